using Npgsql;

namespace Ledger.EventStore;

/// <summary>
/// A read model updated in the same transaction as the events it reads, so it is never behind the streams. If it throws,
/// the append fails and nothing is stored (when the batch held several requests, each is retried alone so that only the
/// request whose events made the projection fail is refused).
/// </summary>
public interface IInlineProjection
{
    /// <summary>Applies events just inserted in <paramref name="transaction"/>, in position order.</summary>
    Task ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events, CancellationToken cancellationToken);
}
