namespace Recompute.Runtime.Execution;

/// <summary>
/// A small, fast, reproducible random source (SplitMix64): the same seed gives the same numbers on every machine
/// and .NET version, unlike <see cref="Random"/> whose algorithm is not a compatibility promise.
/// </summary>
internal sealed class DeterministicRandom
{
    private ulong _state;
    private double? _spare;

    public DeterministicRandom(ulong seed) { _state = seed; }

    /// <summary>A seed derived from a base seed and a name (stable across runs, unlike <see cref="string.GetHashCode()"/>).</summary>
    public static ulong Derive(ulong seed, string name, long extra = 0)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in name) h = (h ^ c) * 1099511628211UL;
        return Mix(seed ^ Mix(h) ^ Mix((ulong)extra + 0x632BE59BD9B4E019UL));
    }

    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextULong() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)(NextDouble() * n);

    /// <summary>Standard normal (Box–Muller).</summary>
    public double NextNormal()
    {
        if (_spare is { } s) { _spare = null; return s; }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1)), a = 2.0 * Math.PI * u2;
        _spare = r * Math.Sin(a);
        return r * Math.Cos(a);
    }
}
