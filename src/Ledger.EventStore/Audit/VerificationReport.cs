namespace Ledger.EventStore.Audit;

/// <summary>What a verification found: the counts checked and every mismatch (up to a limit), first one first.</summary>
/// <param name="Ok">True when nothing differs (and the digest, if one was given, matches).</param>
/// <param name="EventsChecked">Events whose hash was recomputed.</param>
/// <param name="StreamsChecked">Streams whose chain was followed from version 1.</param>
/// <param name="BlocksChecked">Blocks whose Merkle root and chain hash were recomputed.</param>
/// <param name="SealedEvents">Events sealed in some block.</param>
/// <param name="UnsealedEvents">Events not sealed yet (the sealer's backlog; not a fault).</param>
/// <param name="Digest">The check against the digest the auditor supplied, if any.</param>
/// <param name="Mismatches">What differs, in the order found (events by position, then blocks by number).</param>
/// <param name="MismatchesTruncated">True when more mismatches were found than are listed.</param>
public sealed record VerificationReport(
    bool Ok, long EventsChecked, long StreamsChecked, long BlocksChecked, long SealedEvents, long UnsealedEvents,
    DigestCheck? Digest, IReadOnlyList<Mismatch> Mismatches, bool MismatchesTruncated)
{
    /// <summary>The first thing that differs, or null.</summary>
    public Mismatch? FirstMismatch => Mismatches.Count > 0 ? Mismatches[0] : null;
}

/// <summary>The outcome of checking the history against a digest kept outside the ledger.</summary>
/// <param name="BlockNumber">The digest's block.</param>
/// <param name="ExpectedChainHash">The digest's chain hash (hex).</param>
/// <param name="RecomputedChainHash">The chain hash recomputed from the events as they are now (hex), or null when the block is missing.</param>
/// <param name="Matches">True when the history up to that block is unchanged.</param>
public sealed record DigestCheck(long BlockNumber, string ExpectedChainHash, string? RecomputedChainHash, bool Matches);

/// <summary>One thing that differs, named as precisely as the evidence allows.</summary>
/// <param name="Kind">Stable kind, e.g. <c>event-hash</c>, <c>stream-version-gap</c>, <c>block-event-hash</c> (docs/auditing.md).</param>
/// <param name="Message">A sentence for people.</param>
/// <param name="StreamId">The stream concerned, if known.</param>
/// <param name="StreamVersion">The stream version concerned, if known.</param>
/// <param name="Position">The global position concerned, if known.</param>
/// <param name="EventId">The event concerned, if known.</param>
/// <param name="BlockNumber">The block concerned, if any.</param>
/// <param name="Expected">What the evidence says it should be (hex hashes, versions).</param>
/// <param name="Actual">What was found.</param>
public sealed record Mismatch(
    string Kind, string Message, string? StreamId = null, long? StreamVersion = null, long? Position = null, Guid? EventId = null,
    long? BlockNumber = null, string? Expected = null, string? Actual = null);

/// <summary>A digest: the newest block's identity, kept by auditors outside the ledger.</summary>
/// <param name="BlockNumber">The block's number.</param>
/// <param name="ChainHash">Its chain hash, which commits to every earlier block and every sealed event.</param>
public sealed record LedgerDigestReference(long BlockNumber, byte[] ChainHash);
