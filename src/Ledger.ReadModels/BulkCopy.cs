using Npgsql;
using NpgsqlTypes;

namespace Ledger.ReadModels;

/// <summary>What the read models' bulk replays share: how much they hold before writing, and binary COPY helpers.</summary>
internal static class BulkCopy
{
    /// <summary>
    /// Rows held in memory before a bulk replay writes them (one transaction per chunk): enough that a COPY's round trip is
    /// amortised, few enough that a chunk is a few megabytes and its transaction lasts well under a second (an open
    /// transaction keeps Marten from proving a sequence hole dead, so it can hold back the feed's high-water mark).
    /// </summary>
    public const int ChunkRows = 20_000;

    public static Task WriteNullableAsync<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type, CancellationToken cancellationToken)
        where T : struct =>
        value is { } v ? copy.WriteAsync(v, type, cancellationToken) : copy.WriteNullAsync(cancellationToken);

    public static Task WriteNullableAsync(NpgsqlBinaryImporter copy, string? value, CancellationToken cancellationToken) =>
        value is null ? copy.WriteNullAsync(cancellationToken) : copy.WriteAsync(value, NpgsqlDbType.Text, cancellationToken);
}
