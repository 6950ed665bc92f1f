using CsCheck;

namespace Recompute.Tests.Support;

/// <summary>
/// CsCheck properties run on a fixed list of seeds, so that a run is deterministic. When a seed fails, CsCheck
/// shrinks from it (random smaller inputs that fail too) and the test reports the smallest failing input found.
/// </summary>
public static class Property
{
    public static void Check<T>(Gen<T> gen, Action<T> assert, int cases, Func<T, string>? print = null)
    {
        for (uint i = 0; i < cases; i++)
        {
            string seed = new PCG(i, 0x5EED).ToString();
            try
            {
                gen.Sample(assert, seed: seed, iter: 1, threads: 1, print: print);
            }
            catch (CsCheckException)
            {
                gen.Sample(assert, seed: seed, iter: 300, threads: 1, print: print);
                throw;
            }
        }
    }
}
