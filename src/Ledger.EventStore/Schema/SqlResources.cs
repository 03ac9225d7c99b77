using System.Reflection;

namespace Ledger.EventStore.Schema;

/// <summary>Reads SQL files embedded as resources, so SQL lives in named files rather than in C# strings.</summary>
public static class SqlResources
{
    /// <summary>The text of the embedded resource whose name ends with <paramref name="fileName"/>.</summary>
    public static string Read(Assembly assembly, string fileName)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var name = assembly.GetManifestResourceNames()
            .SingleOrDefault(n => n.EndsWith("." + fileName, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"No embedded SQL file '{fileName}' in {assembly.GetName().Name}.");
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>Splits a SQL file into its statements: each ends with a semicolon at the end of a line.</summary>
public static class SqlStatements
{
    /// <summary>The statements of <paramref name="sql"/>, without comments-only remainders.</summary>
    public static IReadOnlyList<string> Split(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var statements = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (var line in sql.Split('\n'))
        {
            var trimmed = line.TrimEnd();
            if (trimmed.TrimStart().StartsWith("--", StringComparison.Ordinal) || trimmed.Length == 0) continue;
            current.AppendLine(trimmed);
            if (!trimmed.EndsWith(';')) continue;
            statements.Add(current.ToString().TrimEnd().TrimEnd(';'));
            current.Clear();
        }

        if (current.ToString().Trim().Length > 0) statements.Add(current.ToString().Trim());
        return statements;
    }
}

/// <summary>The store's own queries, one embedded file each (Sql/Queries).</summary>
internal static class Sql
{
    public static readonly IReadOnlyList<string> AppendLockStreams = SqlStatements.Split(Read("append_lock_streams.sql"));
    public static readonly IReadOnlyList<string> AppendEvents = SqlStatements.Split(Read("append_events.sql"));
    public static readonly string ReadStream = Read("read_stream.sql");
    public static readonly string ReadStreams = Read("read_streams.sql");
    public static readonly string ReadOneStream = Read("read_one_stream.sql");
    public static readonly string ReadStreamsToDecide = Read("read_streams_to_decide.sql");
    public static readonly string ReadOneStreamToDecide = Read("read_one_stream_to_decide.sql");
    public static readonly string ReadAllStreams = Read("read_all_streams.sql");
    public static readonly string ReadStreamVersion = Read("read_stream_version.sql");
    public static readonly string ReadFeed = Read("read_feed.sql");
    public static readonly string ReadHeadPosition = Read("read_head_position.sql");
    public static readonly string ReadFeedHead = Read("read_feed_head.sql");
    public static readonly string AnalyzeEventsOnce = Read("analyze_events_once.sql");
    public static readonly string ReadEventsAtPositions = Read("read_events_at_positions.sql");

    private static string Read(string fileName) => SqlResources.Read(typeof(Sql).Assembly, fileName);
}
