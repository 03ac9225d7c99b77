using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Ledger.Api.ServiceDefaults.Messaging;
using Wolverine.Attributes;

namespace Ledger.Api.Features.Integration.Milestones;

/// <summary>
/// A factory's ranked builds passed a multiple of 1,000 units (the Shanghai 1,000th-unit moment; docs/domain.md,
/// docs/integration-events.md). Published once per factory and milestone by the <c>integration-milestones</c>
/// subscription (<see cref="MilestoneSubscription"/>); its <see cref="MessageId"/> depends only on the factory and the
/// milestone, so even a republication carries the same id.
/// </summary>
/// <param name="FactoryId">The factory.</param>
/// <param name="Milestone">1000, 2000, ...: the number of units the factory had built when it was reached.</param>
/// <param name="Serial">The unit ranked at that position (by occurredAt, then feed position) when the milestone was reached.</param>
/// <param name="OccurredAt">When that unit was built (the line's clock).</param>
/// <param name="RecordedAt">When the ledger recorded the build that took the factory past the milestone.</param>
/// <param name="EventId">The event id of that build.</param>
[MessageIdentity("ledger.factory-milestone-reached.v1")]
[MessageIdFromBody]
public sealed record FactoryMilestoneReached(
    [property: JsonPropertyName("factoryId")] string FactoryId,
    [property: JsonPropertyName("milestone")] long Milestone,
    [property: JsonPropertyName("serial")] string Serial,
    [property: JsonPropertyName("occurredAt")] DateTimeOffset OccurredAt,
    [property: JsonPropertyName("recordedAt")] DateTimeOffset RecordedAt,
    [property: JsonPropertyName("eventId")] Guid EventId) : IIntegrationEvent
{
    // A namespace of our own for the name-based ids (RFC 9562, 5.5): fixed forever, since consumers deduplicate by the ids.
    private static readonly Guid IdNamespace = new("5f0c7c38-5a43-4d8e-9b4e-2f1d6a0e9c41");

    /// <inheritdoc />
    [JsonPropertyName("messageId")]
    public Guid MessageId => IdOf(FactoryId, Milestone);

    /// <summary>The message id of <paramref name="factoryId"/>'s <paramref name="milestone"/>: a UUIDv5 of <c>factory/milestone</c>.</summary>
    public static Guid IdOf(string factoryId, long milestone)
    {
        ArgumentException.ThrowIfNullOrEmpty(factoryId);
        return NameBased(IdNamespace, FormattableString.Invariant($"{factoryId}/{milestone}"));
    }

    /// <summary>A version 5 (SHA-1, name-based) UUID of <paramref name="name"/> in <paramref name="space"/> (RFC 9562, 5.5).</summary>
    internal static Guid NameBased(Guid space, string name)
    {
        Span<byte> input = stackalloc byte[16 + Encoding.UTF8.GetByteCount(name)];
        space.TryWriteBytes(input, bigEndian: true, out _);
        Encoding.UTF8.GetBytes(name, input[16..]);
        Span<byte> hash = stackalloc byte[20];
        // SHA-1 is what version 5 is defined on; the id identifies, it protects nothing.
#pragma warning disable CA5350
        SHA1.HashData(input, hash);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}
