namespace Ledger.EventStore;

/// <summary>What a writer believes about a stream's version before it appends. Checked before any position is drawn.</summary>
public readonly record struct ExpectedVersion
{
    private enum Kind { Any, NoStream, StreamExists, Exact }

    private readonly Kind _kind;
    private readonly long _version;

    private ExpectedVersion(Kind kind, long version) => (_kind, _version) = (kind, version);

    /// <summary>Append whatever the stream's version is.</summary>
    public static ExpectedVersion Any { get; } = new(Kind.Any, 0);

    /// <summary>The stream must have no events yet.</summary>
    public static ExpectedVersion NoStream { get; } = new(Kind.NoStream, 0);

    /// <summary>The stream must have at least one event.</summary>
    public static ExpectedVersion StreamExists { get; } = new(Kind.StreamExists, 0);

    /// <summary>The stream must be at exactly this version (0 means no events, the same as <see cref="NoStream"/>).</summary>
    public static ExpectedVersion Exactly(long version)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        return version == 0 ? NoStream : new ExpectedVersion(Kind.Exact, version);
    }

    /// <summary>Whether a stream currently at <paramref name="actualVersion"/> satisfies this expectation.</summary>
    public bool IsSatisfiedBy(long actualVersion) => _kind switch
    {
        Kind.Any => true,
        Kind.NoStream => actualVersion == 0,
        Kind.StreamExists => actualVersion > 0,
        _ => actualVersion == _version,
    };

    /// <summary>The exact version expected, or null for <see cref="Any"/> and <see cref="StreamExists"/>.</summary>
    public long? Version => _kind switch
    {
        Kind.NoStream => 0,
        Kind.Exact => _version,
        _ => null,
    };

    /// <inheritdoc />
    public override string ToString() => _kind switch
    {
        Kind.Any => "any",
        Kind.NoStream => "no stream",
        Kind.StreamExists => "stream exists",
        _ => _version.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
