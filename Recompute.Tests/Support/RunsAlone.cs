namespace Recompute.Tests.Support;

/// <summary>
/// Tests whose property holds only on a machine that is not overloaded (determinism of work-limited searches, which
/// the wall clock stops at several times their limit): xunit runs this collection after the others, alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "runs alone";
}
