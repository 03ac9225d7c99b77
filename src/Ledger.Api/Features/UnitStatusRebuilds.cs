using Ledger.ReadModels;
using Npgsql;

namespace Ledger.Api.Features;

/// <summary>
/// Runs a rebuild of the inline UnitStatus table in the background of this node, for <c>POST
/// /api/v1/projections/unit-status/rebuild</c>. Its progress is this node's to report; an advisory lock keeps a second
/// rebuild, on any node, from starting meanwhile.
/// </summary>
internal sealed class UnitStatusRebuilds(NpgsqlDataSource dataSource, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<UnitStatusRebuilds> logger)
{
    private readonly Lock _gate = new();
    private Task? _running;

    public DateTimeOffset? RequestedAt { get; private set; }
    public DateTimeOffset? FinishedAt { get; private set; }
    public string? Error { get; private set; }
    public (long Done, long Total) Progress { get; private set; }
    public bool IsRunning => _running is { IsCompleted: false };

    /// <summary>Starts a rebuild unless one is running on this node.</summary>
    public bool TryStart()
    {
        lock (_gate)
        {
            if (IsRunning) return false;
            RequestedAt = time.GetUtcNow();
            Error = null;
            Progress = (0, 0);
            _running = Task.Run(RunAsync);
            return true;
        }
    }

    private async Task RunAsync()
    {
        try
        {
            await new UnitStatusRebuild(dataSource).RunAsync(new Reporter(p => Progress = p), lifetime.ApplicationStopping);
            FinishedAt = time.GetUtcNow();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Kept for the status endpoint: a rebuild that failed leaves the live table as it was.
            Error = $"{e.GetType().Name}: {e.Message}";
            logger.LogError(e, "The rebuild of unit-status failed; the live table is unchanged");
        }
    }

    private sealed class Reporter(Action<(long, long)> report) : IProgress<(long Done, long Total)>
    {
        public void Report((long Done, long Total) value) => report(value);
    }
}
