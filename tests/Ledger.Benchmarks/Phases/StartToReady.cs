using System.Globalization;
using Ledger.Benchmarks.Infrastructure;

namespace Ledger.Benchmarks.Phases;

/// <summary>
/// Seconds from each start of the service to its first 200 from /health/ready, and to its first HTTP answer of any status
/// (Kestrel listening: what start-up did before serving, against what the first readiness checks took), in the order they ran.
/// </summary>
internal sealed record StartResult(IReadOnlyList<double> Seconds, IReadOnlyList<double> AnsweringSeconds)
{
    public double Median => MedianOf(Seconds);

    public double Max => Seconds.Count == 0 ? double.NaN : Seconds.Max();

    public double AnsweringMedian => MedianOf(AnsweringSeconds);

    // The lower median of an even count: a sample that was measured, never an average of two.
    private static double MedianOf(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt((values.Count - 1) / 2);
}

/// <summary>
/// Issue 15, P7: the service started again on the database the run migrated and filled, with a warm disk (the run has just
/// read it), and stopped again, <c>count</c> times one after the other. Each is timed from just before the process starts
/// to the first 200 of /health/ready (database answering, migrations applied, no projection stopped), polled every 10 ms;
/// without the allocation probe, so the process is exactly the service. Each start writes service-start-&lt;n&gt;.log.
/// </summary>
internal static class StartToReady
{
    public static async Task<StartResult> RunAsync(ServiceLaunch launch, int count, Action<string> log, CancellationToken cancellationToken)
    {
        var seconds = new List<double>(count);
        var answering = new List<double>(count);
        for (var i = 1; i <= count; i++)
        {
            await using var service = await ServiceProcess.StartAsync(
                launch, string.Create(CultureInfo.InvariantCulture, $"service-start-{i}.log"), probe: false, cancellationToken);
            seconds.Add(service.StartedAfter.TotalSeconds);
            answering.Add(service.AnsweringAfter.TotalSeconds);
            log($"  start {i}: answering after {service.AnsweringAfter.TotalSeconds:F2} s, ready after {service.StartedAfter.TotalSeconds:F2} s");
            await service.StopAsync();
        }

        return new StartResult(seconds, answering);
    }
}
