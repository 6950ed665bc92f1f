namespace Recompute.Runtime.Tensors;

/// <summary>What a buffer holds; the arena counts live bytes and peak per category.</summary>
public enum MemoryCategory
{
    /// <summary>The value of a planned forward tensor (one forward task's buffer).</summary>
    Activation,
    /// <summary>The gradient of a planned forward tensor (one backward task's buffer).</summary>
    ActivationGradient,
    /// <summary>Trainable weights, network inputs and constants: always resident, outside the budget.</summary>
    Parameter,
    /// <summary>Accumulated parameter gradients: outside the budget.</summary>
    ParameterGradient,
    /// <summary>Optimizer state (momentum, Adam moments): outside the budget.</summary>
    OptimizerState,
    /// <summary>Temporary buffers of kernels (im2col columns, partial gradients): reported, not part of the planned peak.</summary>
    Scratch,
}
