using System.Text;

namespace Ledger.Demo;

/// <summary>
/// A small seeded generator (xoshiro256**, seeded through SplitMix64) for the demo history. Our own rather than
/// <see cref="Random"/>: the sequence of a seeded <see cref="Random"/> is not promised across .NET versions, and the demo
/// must be the same history for the same seed on every machine and runtime.
/// </summary>
/// <remarks>
/// Independent streams come from <see cref="For"/>, keyed by names (a factory, a unit's serial): what happens to one unit
/// does not shift the numbers drawn for another, so generating one factory or a shorter period leaves the rest unchanged.
/// </remarks>
internal sealed class DemoRandom
{
    private ulong _s0, _s1, _s2, _s3;

    private DemoRandom(ulong seed)
    {
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    /// <summary>The stream named by <paramref name="keys"/> under <paramref name="seed"/>.</summary>
    public static DemoRandom For(int seed, params ReadOnlySpan<string> keys) => new(Hash(seed, keys));

    /// <summary>A 64-bit hash of the seed and keys (FNV-1a over UTF-8, finished with SplitMix64).</summary>
    public static ulong Hash(int seed, params ReadOnlySpan<string> keys)
    {
        var hash = 14695981039346656037UL ^ (ulong)(uint)seed;
        foreach (var key in keys)
        {
            foreach (var b in Encoding.UTF8.GetBytes(key))
            {
                hash = (hash ^ b) * 1099511628211UL;
            }

            hash = (hash ^ 0xFF) * 1099511628211UL; // separator: ("ab", "c") is not ("a", "bc")
        }

        return SplitMix(ref hash);
    }

    public ulong NextUInt64()
    {
        var result = RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [min, max).</summary>
    public double Between(double min, double max) => min + ((max - min) * NextDouble());

    /// <summary>Uniform integer in [min, max] (both included).</summary>
    public int Between(int min, int max) => min + (int)(NextDouble() * (max - min + 1));

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Chance(double p) => NextDouble() < p;

    /// <summary>A standard normal draw (Box-Muller).</summary>
    public double Normal()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>One of <paramref name="items"/>, each as likely as its weight.</summary>
    public T Pick<T>(IReadOnlyList<(T Item, double Weight)> items)
    {
        var total = 0.0;
        foreach (var (_, weight) in items) total += weight;
        var x = NextDouble() * total;
        foreach (var (item, weight) in items)
        {
            x -= weight;
            if (x < 0) return item;
        }

        return items[^1].Item;
    }

    /// <summary>One of <paramref name="items"/>, uniformly.</summary>
    public T Pick<T>(IReadOnlyList<T> items) => items[(int)(NextDouble() * items.Count)];

    private static ulong SplitMix(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));
}
