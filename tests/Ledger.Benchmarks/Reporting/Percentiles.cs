namespace Ledger.Benchmarks.Reporting;

/// <summary>Latency or lag percentiles from every sample (no histogram buckets: the runs are short enough to keep them all).</summary>
internal sealed record Percentiles(int Count, double P50, double P95, double P99, double Max)
{
    public static Percentiles Of(IReadOnlyCollection<double> samples)
    {
        if (samples.Count == 0) return new Percentiles(0, double.NaN, double.NaN, double.NaN, double.NaN);
        var sorted = samples.Order().ToArray();
        return new Percentiles(sorted.Length, At(sorted, 0.50), At(sorted, 0.95), At(sorted, 0.99), sorted[^1]);
    }

    /// <summary>Nearest rank: the smallest sample with at least p of the samples at or below it.</summary>
    private static double At(double[] sorted, double p) => sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
