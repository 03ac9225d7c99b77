using System.Collections;
using System.Globalization;
using Ledger.EventStore.Hashing;

namespace Ledger.EventStore.Audit;

/// <summary>
/// Recomputes the evidence from the history, without trusting anything the ledger stored about it: every event's hash
/// from its content and the previous event of its stream, every stream's chain, every block's Merkle root from the
/// events at its positions, and the chain of blocks. Events are fed in position order, then blocks in number order;
/// the same code checks a live database and an export file (see <see cref="LedgerAudit.VerifyAsync"/> and
/// <see cref="LedgerExport"/>). Memory is about 60 bytes per event.
/// </summary>
public sealed class LedgerVerifier
{
    private readonly LedgerDigestReference? _digest;
    private readonly bool _partial;
    private readonly int _maxMismatches;
    private readonly List<Mismatch> _mismatches = [];
    private readonly Dictionary<string, StreamState> _streams = new(StringComparer.Ordinal);
    private readonly EventIndex _events = new();
    private BitArray? _sealed;
    private bool _truncated;
    private long _blocksChecked;
    private long _sealedEvents;
    private byte[]? _storedPreviousChainHash;
    private byte[]? _recomputedPreviousChainHash;
    private long _lastBlockNumber;
    private DigestCheck? _digestCheck;
    private bool _blocksStarted;

    /// <summary>Starts a verification; with <paramref name="digest"/> it also proves the history up to that block unchanged.</summary>
    /// <param name="digest">A digest kept outside the ledger, or null.</param>
    /// <param name="maxMismatches">How many mismatches to list (all are counted).</param>
    /// <param name="partial">The history is a range: its first block's number and link are taken as given.</param>
    public LedgerVerifier(LedgerDigestReference? digest = null, int maxMismatches = 100, bool partial = false)
    {
        _digest = digest;
        _partial = partial;
        _maxMismatches = maxMismatches;
    }

    /// <summary>Number of mismatches found so far.</summary>
    public int MismatchCount { get; private set; }

    /// <summary>
    /// Checks the next event (strictly increasing positions). <paramref name="chainedOnto"/> is the previous event's hash
    /// when the history starts mid-stream (a range export); otherwise the stream must start at version 1.
    /// </summary>
    public void AddEvent(RecordedEvent recorded, byte[]? chainedOnto = null)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        if (_blocksStarted) throw new InvalidOperationException("Events come before blocks.");
        if (_events.Count > 0 && recorded.Position <= _events.LastPosition)
        {
            Report(new Mismatch("event-order",
                Invariant($"position {recorded.Position} comes after position {_events.LastPosition}: positions must increase"),
                recorded.StreamId, recorded.StreamVersion, recorded.Position, recorded.EventId));
            return;
        }

        _streams.TryGetValue(recorded.StreamId, out var stream);
        var streamId = stream?.StreamId ?? recorded.StreamId;
        byte[]? previousHash = null;
        var chainKnown = true;
        if (stream is null)
        {
            if (recorded.StreamVersion != 1)
            {
                if (chainedOnto is not null) previousHash = chainedOnto;
                else
                {
                    chainKnown = false;
                    Report(new Mismatch("stream-version-gap",
                        Invariant($"stream {streamId} starts at version {recorded.StreamVersion} (position {recorded.Position}): versions 1 to {recorded.StreamVersion - 1} are missing"),
                        streamId, recorded.StreamVersion, recorded.Position, recorded.EventId, Expected: "1", Actual: Num(recorded.StreamVersion)));
                }
            }

            stream = new StreamState(streamId);
            _streams.Add(streamId, stream);
        }
        else if (recorded.StreamVersion != stream.Version + 1)
        {
            chainKnown = false;
            var message = recorded.StreamVersion <= stream.Version
                ? Invariant($"stream {streamId} version {recorded.StreamVersion} at position {recorded.Position} comes after version {stream.Version} at position {stream.LastPosition}: an event was moved or duplicated")
                : Invariant($"stream {streamId} version {recorded.StreamVersion} at position {recorded.Position} follows version {stream.Version} at position {stream.LastPosition}: version {stream.Version + 1} is missing");
            Report(new Mismatch(recorded.StreamVersion <= stream.Version ? "stream-order" : "stream-version-gap", message,
                streamId, recorded.StreamVersion, recorded.Position, recorded.EventId, Expected: Num(stream.Version + 1), Actual: Num(recorded.StreamVersion)));
        }
        else if (stream.LastHash is null)
        {
            // The previous event could not be read (reported already): there is no stored hash to chain onto.
            chainKnown = false;
        }
        else
        {
            previousHash = stream.LastHash;
        }

        var stored = recorded.Hash.ToArray();
        var recomputed = stored;
        if (chainKnown)
        {
            try
            {
                recomputed = EventHasher.Hash(recorded.StreamId, recorded.StreamVersion, recorded.EventId, recorded.Type, recorded.Data,
                    recorded.MetadataJson, recorded.OccurredAt, recorded.RecordedAt, previousHash);
            }
            catch (Exception error) when (error is FormatException or System.Text.Json.JsonException or ArgumentException)
            {
                recomputed = new byte[EventHasher.HashLength];
                Report(new Mismatch("event-content", Invariant($"event at position {recorded.Position} (stream {streamId} version {recorded.StreamVersion}) cannot be encoded: {error.Message}"),
                    streamId, recorded.StreamVersion, recorded.Position, recorded.EventId));
            }

            if (!recomputed.AsSpan().SequenceEqual(stored))
            {
                Report(new Mismatch("event-hash",
                    Invariant($"event at position {recorded.Position} (stream {streamId} version {recorded.StreamVersion}, id {recorded.EventId}) was changed after it was recorded: its content hashes to {Hex(recomputed)}, the ledger recorded {Hex(stored)}"),
                    streamId, recorded.StreamVersion, recorded.Position, recorded.EventId, Expected: Hex(stored), Actual: Hex(recomputed)));
            }
        }

        // The chain continues from the stored hash, so one edited event is reported once, not once per later event.
        if (recorded.StreamVersion > stream.Version)
        {
            stream.Version = recorded.StreamVersion;
            stream.LastHash = stored;
            stream.LastPosition = recorded.Position;
        }

        _events.Add(recorded.Position, recomputed, streamId, recorded.StreamVersion);
    }

    /// <summary>
    /// Records an event whose stored values cannot be what was hashed (a row of the database whose headers were damaged):
    /// reported as <c>event-content</c>; its place in the stream and in the blocks is still checked, with no hash.
    /// </summary>
    internal void AddUnreadableEvent(long position, Guid eventId, string streamId, long streamVersion, string problem)
    {
        if (_blocksStarted) throw new InvalidOperationException("Events come before blocks.");
        if (_events.Count > 0 && position <= _events.LastPosition)
        {
            Report(new Mismatch("event-order", Invariant($"position {position} comes after position {_events.LastPosition}: positions must increase"),
                streamId, streamVersion, position, eventId));
            return;
        }

        Report(new Mismatch("event-content", Invariant($"event at position {position} (stream {streamId} version {streamVersion}, id {eventId}) cannot be checked: {problem}"),
            streamId, streamVersion, position, eventId));
        if (!_streams.TryGetValue(streamId, out var stream))
        {
            stream = new StreamState(streamId);
            _streams.Add(streamId, stream);
        }

        if (streamVersion > stream.Version)
        {
            if (streamVersion != stream.Version + 1)
                Report(new Mismatch("stream-version-gap",
                    Invariant($"stream {streamId} version {streamVersion} at position {position} follows version {stream.Version}: version {stream.Version + 1} is missing"),
                    streamId, streamVersion, position, eventId, Expected: Num(stream.Version + 1), Actual: Num(streamVersion)));
            stream.Version = streamVersion;
            stream.LastHash = null;
            stream.LastPosition = position;
        }

        _events.Add(position, new byte[MerkleTree.HashLength], streamId, streamVersion);
    }

    /// <summary>
    /// Checks the streams table's record of a stream (its version, which appends keep equal to the last event's) against
    /// the events (database checks only).
    /// </summary>
    public void CheckStreamRecord(string streamId, long version)
    {
        ArgumentNullException.ThrowIfNull(streamId);
        if (!_streams.TryGetValue(streamId, out var stream))
        {
            Report(new Mismatch("stream-record", Invariant($"stream {streamId} is recorded at version {version} but has no events"),
                streamId, version, Expected: Num(version), Actual: "0"));
            return;
        }

        stream.Recorded = true;
        if (stream.Version != version)
        {
            Report(new Mismatch("stream-record",
                Invariant($"stream {streamId} is recorded at version {version} but its events end at version {stream.Version}: an event at the end was removed or added"),
                streamId, stream.Version, stream.LastPosition, Expected: Num(version), Actual: Num(stream.Version)));
        }
    }

    /// <summary>
    /// Checks Marten's unhashed columns of an event against what was hashed: the actor, correlation and causation ids are
    /// copies of the metadata (Marten's readers show them), and an event of another tenant or archived is one Marten's
    /// readers skip. Database checks only.
    /// </summary>
    internal void CheckMartenColumns(RecordedEvent recorded, MartenColumns columns)
    {
        EventMetadata metadata;
        try
        {
            metadata = recorded.Metadata;
        }
        catch (System.Text.Json.JsonException)
        {
            return; // not a metadata object: the hash check reports the event already
        }

        var differences = new List<string>();
        if (columns.UserName != metadata.Actor) differences.Add(Invariant($"user_name {Quote(columns.UserName)}, metadata actor {Quote(metadata.Actor)}"));
        if (columns.CorrelationId != metadata.CorrelationId)
            differences.Add(Invariant($"correlation_id {Quote(columns.CorrelationId)}, metadata correlationId {Quote(metadata.CorrelationId)}"));
        if (columns.CausationId != metadata.CausationId)
            differences.Add(Invariant($"causation_id {Quote(columns.CausationId)}, metadata causationId {Quote(metadata.CausationId)}"));
        if (columns.TenantId != DefaultTenant) differences.Add(Invariant($"tenant_id {Quote(columns.TenantId)} (Marten's readers of the ledger skip it)"));
        if (columns.IsArchived) differences.Add("is_archived (Marten's readers skip it)");
        if (differences.Count == 0) return;
        Report(new Mismatch("event-columns",
            Invariant($"event at position {recorded.Position} (stream {recorded.StreamId} version {recorded.StreamVersion}) was changed in Marten's columns: {string.Join("; ", differences)}"),
            recorded.StreamId, recorded.StreamVersion, recorded.Position, recorded.EventId));
    }

    /// <summary>Checks a stream's Marten columns that decide whether Marten's readers see it (database checks only).</summary>
    internal void CheckMartenStreamColumns(string streamId, string? tenantId, bool isArchived)
    {
        if (tenantId == DefaultTenant && !isArchived) return;
        Report(new Mismatch("stream-record",
            Invariant($"stream {streamId} was changed in Marten's streams table: {(isArchived ? "archived" : "tenant " + Quote(tenantId))} (Marten's readers skip it)"),
            streamId));
    }

    /// <summary>Checks that every stream with events has a streams-table record (after <see cref="CheckStreamRecord"/> for each row).</summary>
    public void CheckAllStreamsRecorded()
    {
        foreach (var stream in _streams.Values.Where(s => !s.Recorded))
            Report(new Mismatch("stream-record", Invariant($"stream {stream.StreamId} has events up to version {stream.Version} but no record in the streams table"),
                stream.StreamId, stream.Version, stream.LastPosition));
    }

    /// <summary>Checks the next block (after all events, in number order).</summary>
    public void AddBlock(SealedBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        _blocksStarted = true;
        _sealed ??= new BitArray(_events.Count);
        _blocksChecked++;
        if (_partial && _blocksChecked == 1)
        {
            _lastBlockNumber = block.Number - 1;
            _storedPreviousChainHash = block.PreviousChainHash;
            _recomputedPreviousChainHash = block.PreviousChainHash;
        }

        if (block.Number != _lastBlockNumber + 1)
            Report(new Mismatch("block-number", Invariant($"block {block.Number} follows block {_lastBlockNumber}: block {_lastBlockNumber + 1} is missing"),
                BlockNumber: block.Number, Expected: Num(_lastBlockNumber + 1), Actual: Num(block.Number)));

        if (!SameHash(block.PreviousChainHash, _storedPreviousChainHash))
            Report(new Mismatch("block-link", Invariant($"block {block.Number} does not link to block {block.Number - 1}: it names previous chain hash {Hex(block.PreviousChainHash)}, block {block.Number - 1} has {Hex(_storedPreviousChainHash)}"),
                BlockNumber: block.Number, Expected: Hex(_storedPreviousChainHash), Actual: Hex(block.PreviousChainHash)));

        // The block's own leaves must give its root: otherwise the block itself was edited.
        var ownRoot = MerkleTree.Root(block.LeafHashes());
        if (!ownRoot.AsSpan().SequenceEqual(block.MerkleRoot))
            Report(new Mismatch("block-merkle-root", Invariant($"block {block.Number} was edited: its events give Merkle root {Hex(ownRoot)}, the block records {Hex(block.MerkleRoot)}"),
                BlockNumber: block.Number, Expected: Hex(block.MerkleRoot), Actual: Hex(ownRoot)));

        var ownChain = SealedBlock.ComputeChainHash(block.Number, block.EventCount, block.FirstPosition, block.LastPosition, block.MerkleRoot,
            block.PreviousChainHash, block.SealedAt);
        if (!ownChain.AsSpan().SequenceEqual(block.ChainHash))
            Report(new Mismatch("block-chain-hash", Invariant($"block {block.Number} was edited: its header hashes to {Hex(ownChain)}, the block records chain hash {Hex(block.ChainHash)}"),
                BlockNumber: block.Number, Expected: Hex(block.ChainHash), Actual: Hex(ownChain)));

        // The leaves as the events are now: the chain recomputed from these is what a digest is compared with.
        var leaves = new byte[block.EventCount][];
        for (var i = 0; i < block.EventCount; i++)
        {
            var position = block.Positions[i];
            var index = _events.IndexOf(position);
            if (index < 0)
            {
                Report(new Mismatch("block-missing-event", Invariant($"block {block.Number} sealed an event at position {position} (hash {Hex(block.EventHashes[i])}) that is no longer in the ledger: it was deleted"),
                    Position: position, BlockNumber: block.Number, Expected: Hex(block.EventHashes[i]), Actual: "missing"));
                leaves[i] = MerkleTree.LeafHash(position, new byte[MerkleTree.HashLength]);
                continue;
            }

            if (_sealed[index])
                Report(new Mismatch("block-duplicate-position", Invariant($"block {block.Number} seals position {position} again: it is already in an earlier block"),
                    _events.StreamOf(index), _events.VersionOf(index), position, BlockNumber: block.Number));
            _sealed[index] = true;
            _sealedEvents++;

            var now = _events.HashOf(index);
            if (!now.SequenceEqual(block.EventHashes[i]))
                Report(new Mismatch("block-event-hash",
                    Invariant($"block {block.Number} sealed hash {Hex(block.EventHashes[i])} at position {position}; the event there now (stream {_events.StreamOf(index)} version {_events.VersionOf(index)}) hashes to {Hex(now)}: it was changed, replaced or moved"),
                    _events.StreamOf(index), _events.VersionOf(index), position, BlockNumber: block.Number, Expected: Hex(block.EventHashes[i]), Actual: Hex(now)));
            leaves[i] = MerkleTree.LeafHash(position, now);
        }

        var recomputedRoot = MerkleTree.Root(leaves);
        var recomputedChain = SealedBlock.ComputeChainHash(block.Number, block.EventCount, block.FirstPosition, block.LastPosition, recomputedRoot,
            _recomputedPreviousChainHash, block.SealedAt);

        if (_digest is not null && block.Number == _digest.BlockNumber)
        {
            var matches = recomputedChain.AsSpan().SequenceEqual(_digest.ChainHash);
            _digestCheck = new DigestCheck(_digest.BlockNumber, Hex(_digest.ChainHash), Hex(recomputedChain), matches);
            if (!matches)
                Report(new Mismatch("digest-mismatch",
                    Invariant($"the history up to block {block.Number} is not the one the digest was taken of: it recomputes to chain hash {Hex(recomputedChain)}, the digest holds {Hex(_digest.ChainHash)}"),
                    BlockNumber: block.Number, Expected: Hex(_digest.ChainHash), Actual: Hex(recomputedChain)));
        }

        _storedPreviousChainHash = block.ChainHash;
        _recomputedPreviousChainHash = recomputedChain;
        _lastBlockNumber = block.Number;
    }

    /// <summary>Finishes and reports.</summary>
    public VerificationReport Complete()
    {
        if (_digest is not null && _digestCheck is null)
        {
            _digestCheck = new DigestCheck(_digest.BlockNumber, Hex(_digest.ChainHash), null, false);
            Report(new Mismatch("digest-block-missing",
                Invariant($"the digest is of block {_digest.BlockNumber} but the ledger has {_lastBlockNumber} blocks: sealed history was removed"),
                BlockNumber: _digest.BlockNumber, Expected: Num(_digest.BlockNumber), Actual: Num(_lastBlockNumber)));
        }

        return new VerificationReport(MismatchCount == 0, _events.Count, _streams.Count, _blocksChecked, _sealedEvents,
            _events.Count - _sealedEvents, _digestCheck, _mismatches.ToArray(), _truncated);
    }

    private void Report(Mismatch mismatch)
    {
        MismatchCount++;
        if (_mismatches.Count < _maxMismatches) _mismatches.Add(mismatch);
        else _truncated = true;
    }

    private const string DefaultTenant = "*DEFAULT*";

    private static string Quote(string? value) => value is null ? "null" : "'" + value + "'";

    private static bool SameHash(byte[]? left, byte[]? right) =>
        left is null ? right is null : right is not null && left.AsSpan().SequenceEqual(right);

    private static string Hex(ReadOnlySpan<byte> hash) => hash.IsEmpty ? "none" : Convert.ToHexStringLower(hash);

    private static string Hex(byte[]? hash) => hash is null ? "none" : Convert.ToHexStringLower(hash);

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed class StreamState(string streamId)
    {
        public string StreamId { get; } = streamId;
        public long Version { get; set; }
        public long LastPosition { get; set; }
        public byte[]? LastHash { get; set; }
        public bool Recorded { get; set; }
    }

    /// <summary>Position-ordered columns: position, recomputed hash, stream, version. Compact enough for millions of events.</summary>
    private sealed class EventIndex
    {
        private long[] _positions = new long[1024];
        private byte[] _hashes = new byte[1024 * MerkleTree.HashLength];
        private string[] _streams = new string[1024];
        private long[] _versions = new long[1024];

        public int Count { get; private set; }
        public long LastPosition => _positions[Count - 1];

        public void Add(long position, byte[] hash, string streamId, long version)
        {
            if (Count == _positions.Length)
            {
                Array.Resize(ref _positions, Count * 2);
                Array.Resize(ref _hashes, Count * 2 * MerkleTree.HashLength);
                Array.Resize(ref _streams, Count * 2);
                Array.Resize(ref _versions, Count * 2);
            }

            _positions[Count] = position;
            hash.CopyTo(_hashes, Count * MerkleTree.HashLength);
            _streams[Count] = streamId;
            _versions[Count] = version;
            Count++;
        }

        public int IndexOf(long position)
        {
            var index = Array.BinarySearch(_positions, 0, Count, position);
            return index >= 0 ? index : -1;
        }

        public ReadOnlySpan<byte> HashOf(int index) => _hashes.AsSpan(index * MerkleTree.HashLength, MerkleTree.HashLength);
        public string StreamOf(int index) => _streams[index];
        public long VersionOf(int index) => _versions[index];
    }
}
