namespace Ledger.EventStore.Audit;

/// <summary>How the sealer folds committed events into blocks: every <see cref="BlockSize"/> events or <see cref="SealInterval"/>.</summary>
public sealed class AuditSealerOptions
{
    /// <summary>A block seals at most this many events; a full block is sealed as soon as its events are committed.</summary>
    public int BlockSize { get; set; } = 1000;

    /// <summary>An event waits at most about this long before a partial block seals it.</summary>
    public TimeSpan SealInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the sealer looks for committed events.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait after a lost connection or another transient error.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BlockSize, nameof(BlockSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(BlockSize, 100_000, nameof(BlockSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(SealInterval, TimeSpan.Zero, nameof(SealInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PollInterval, TimeSpan.Zero, nameof(PollInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RetryDelay, TimeSpan.Zero, nameof(RetryDelay));
    }
}
