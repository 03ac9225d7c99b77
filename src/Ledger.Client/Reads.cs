using System.Text.Json;
using System.Text.Json.Serialization;
using Ledger.Production.Units;

namespace Ledger.Client;

/// <summary>The API key a client is using (<c>GET /api/v1/whoami</c>).</summary>
/// <param name="KeyId">The key's id.</param>
/// <param name="Name">Its name, recorded as the actor of the events it posts.</param>
/// <param name="Role"><c>line</c>, <c>reporting</c>, <c>auditor</c> or <c>admin</c>.</param>
/// <param name="FactoryId">The factory a line key acts for; null for other roles.</param>
public sealed record KeyIdentity(Guid KeyId, string Name, string Role, string? FactoryId);

/// <summary>A factory of the registry (<c>GET /api/v1/factories</c>).</summary>
/// <param name="Id">Lower-case id, as in <c>UnitBuilt.factoryId</c>.</param>
/// <param name="Name">Display name.</param>
/// <param name="Location">Where it is.</param>
/// <param name="Country">ISO 3166-1 alpha-2 code of its country.</param>
/// <param name="TimeZone">IANA time zone; its daily figures are in local days.</param>
/// <param name="Status"><c>planned</c>, <c>under-construction</c>, <c>producing</c> or <c>closed</c>.</param>
/// <param name="NameplateUnitsPerYear">Design capacity, when published.</param>
/// <param name="ConstructionStarted">Local date construction began, when known.</param>
/// <param name="ProductionStarted">Local date production started; builds before it are refused.</param>
public sealed record FactoryInfo(
    string Id, string Name, string Location, string Country, string TimeZone, string Status,
    int? NameplateUnitsPerYear, DateOnly? ConstructionStarted, DateOnly? ProductionStarted);

/// <summary>A unit's latest test.</summary>
/// <param name="Result"><c>passed</c> or <c>failed</c>.</param>
/// <param name="Station">The test station.</param>
/// <param name="MeasuredKwh">Energy measured.</param>
/// <param name="RoundTripEfficiency">A fraction (0.92).</param>
/// <param name="FailureCode">Why it failed; null when it passed.</param>
/// <param name="TestedAt">When.</param>
public sealed record LatestTest(string Result, string Station, decimal MeasuredKwh, decimal RoundTripEfficiency, string? FailureCode, DateTimeOffset? TestedAt);

/// <summary>Where a unit was sent.</summary>
/// <param name="Country">ISO 3166-1 alpha-2 code.</param>
/// <param name="Region">Market region derived from the country (Europe, Australia, ...).</param>
/// <param name="Site">The site.</param>
public sealed record UnitDestination(string Country, string Region, string Site);

/// <summary>A unit's status (<c>GET /api/v1/units/{serial}</c>).</summary>
/// <param name="Serial">Serial number.</param>
/// <param name="FactoryId">Where it was built.</param>
/// <param name="Line">The line it was built on.</param>
/// <param name="Model">Model name.</param>
/// <param name="NameplateKwh">Nameplate energy.</param>
/// <param name="State"><c>built</c>, <c>passed</c>, <c>failed</c>, <c>reworked</c>, <c>in-transit</c>, <c>delivered</c>, <c>commissioned</c> or <c>scrapped</c>.</param>
/// <param name="LatestTest">Its latest test, if tested.</param>
/// <param name="ShipmentId">The shipment it is on (or arrived with).</param>
/// <param name="Carrier">That shipment's carrier.</param>
/// <param name="Destination">That shipment's destination.</param>
/// <param name="Site">The site it was delivered to.</param>
/// <param name="BuiltAt">When it was built.</param>
/// <param name="TestedAt">When it was last tested.</param>
/// <param name="ReworkedAt">When it was last reworked.</param>
/// <param name="ShippedAt">When its current shipment left.</param>
/// <param name="DeliveredAt">When it was delivered.</param>
/// <param name="CommissionedAt">When it was commissioned.</param>
/// <param name="ScrappedAt">When it was scrapped.</param>
/// <param name="LastOccurredAt">When its latest event happened.</param>
/// <param name="Version">Its stream version (the number of its events).</param>
/// <param name="Position">The global position of its latest event.</param>
public sealed record UnitStatus(
    string Serial, string? FactoryId, string? Line, string? Model, decimal? NameplateKwh, string State,
    LatestTest? LatestTest, string? ShipmentId, string? Carrier, UnitDestination? Destination, string? Site,
    DateTimeOffset? BuiltAt, DateTimeOffset? TestedAt, DateTimeOffset? ReworkedAt, DateTimeOffset? ShippedAt,
    DateTimeOffset? DeliveredAt, DateTimeOffset? CommissionedAt, DateTimeOffset? ScrappedAt, DateTimeOffset? LastOccurredAt,
    long Version, long Position);

/// <summary>A page of units (<c>GET /api/v1/units</c>).</summary>
/// <param name="Units">Units in serial order.</param>
/// <param name="Next">The cursor of the next page; null after the last.</param>
public sealed record UnitPage(IReadOnlyList<UnitStatus> Units, string? Next);

/// <summary>Which units to list. Every filter is optional.</summary>
public sealed record UnitQuery
{
    /// <summary>Units built at this factory.</summary>
    public string? FactoryId { get; init; }

    /// <summary>Units in this state (<c>in-transit</c>, ...).</summary>
    public string? State { get; init; }

    /// <summary>Units shipped to this market region.</summary>
    public string? Region { get; init; }

    /// <summary>Units shipped to this country.</summary>
    public string? Country { get; init; }

    /// <summary>Units built at or after this moment.</summary>
    public DateTimeOffset? BuiltFrom { get; init; }

    /// <summary>Units built at or before this moment.</summary>
    public DateTimeOffset? BuiltTo { get; init; }

    /// <summary>Units per page, 1 to 1,000; the ledger's default (100) when null.</summary>
    public int? PageSize { get; init; }
}

/// <summary>A unit's whole history (<c>GET /api/v1/units/{serial}/events</c>).</summary>
/// <param name="Serial">The unit.</param>
/// <param name="Version">Its version (the number of its events).</param>
/// <param name="Events">Every event, in version order.</param>
public sealed record UnitHistory(string Serial, long Version, IReadOnlyList<FeedEvent> Events);

/// <summary>A recorded event as auditors read it: the fact, who recorded it, when, where it sits, and its hash.</summary>
/// <param name="Position">Global position.</param>
/// <param name="Cursor">Pass as the feed's <c>after</c> to read what follows this event.</param>
/// <param name="EventId">The event's id.</param>
/// <param name="Serial">The unit.</param>
/// <param name="Version">Its version in the unit's stream.</param>
/// <param name="Type">API type name (<c>UnitBuilt</c>).</param>
/// <param name="StoredType">Stored type name (<c>unit-built.v1</c>).</param>
/// <param name="Data">The event's data as recorded.</param>
/// <param name="OccurredAt">When it happened, per its sender.</param>
/// <param name="RecordedAt">When the ledger recorded it.</param>
/// <param name="Actor">The name of the key that posted it.</param>
/// <param name="ActorId">That key's id.</param>
/// <param name="CorrelationId">The correlation id of the request that posted it.</param>
/// <param name="IdempotencyKey">That request's Idempotency-Key, if any.</param>
/// <param name="Hash">SHA-256 of the event, chained to the unit's previous event (hex).</param>
public sealed record FeedEvent(
    long Position, string Cursor, Guid EventId, string Serial, long Version, string Type, string StoredType, JsonElement Data,
    DateTimeOffset OccurredAt, DateTimeOffset RecordedAt, string? Actor, string? ActorId, string? CorrelationId,
    string? IdempotencyKey, string Hash)
{
    /// <summary>
    /// The event as its record (<see cref="UnitBuilt"/>, ...) with when it happened, or null for a type this client does
    /// not know (one added to the ledger after it was built).
    /// </summary>
    public OccurredEvent? ToOccurredEvent() =>
        UnitEvents.TryFindByApiName(Type, out var type) ? new OccurredEvent(type.Deserialize(Data), OccurredAt) : null;
}

/// <summary>A page of the global feed.</summary>
/// <param name="Events">Events in commit order.</param>
/// <param name="Next">Pass as <see cref="FeedQuery.After"/> for the next page (also after an empty one: new events arrive after it).</param>
public sealed record FeedPage(IReadOnlyList<FeedEvent> Events, string Next);

/// <summary>Where to read the global feed from, and what of it.</summary>
public sealed record FeedQuery
{
    /// <summary>Read after this cursor (a page's <see cref="FeedPage.Next"/> or an event's <see cref="FeedEvent.Cursor"/>); null: from the start.</summary>
    public string? After { get; init; }

    /// <summary>Events per page, 1 to 5,000; the ledger's default (500) when null.</summary>
    public int? PageSize { get; init; }

    /// <summary>Only these event types (<c>UnitShipped</c>, ...).</summary>
    public IReadOnlyList<string>? Types { get; init; }

    /// <summary>Only the events of units built at this factory.</summary>
    public string? FactoryId { get; init; }
}

/// <summary>Which position an asynchronous read model's answer reflects (<c>X-Ledger-*</c> headers).</summary>
/// <param name="Position">The global position the read model had reached.</param>
/// <param name="LagEvents">Events recorded that it had not yet applied.</param>
/// <param name="Behind">True when the read asked for a <c>minPosition</c> the read model did not reach in time.</param>
public sealed record ReadFreshness(long Position, long LagEvents, bool Behind);

/// <summary>One bucket of a factory's throughput.</summary>
/// <param name="BucketStart">First local day of the bucket.</param>
/// <param name="LastDay">Last local day of the bucket (within the range asked for).</param>
/// <param name="UnitsBuilt">Units built.</param>
/// <param name="TestsPassed">Tests passed (retests included).</param>
/// <param name="TestsFailed">Tests failed.</param>
/// <param name="FirstTests">Units tested for the first time.</param>
/// <param name="FirstTestsPassed">Of those, how many passed.</param>
/// <param name="FirstPassYield">FirstTestsPassed / FirstTests; null without first tests.</param>
/// <param name="UnitsShipped">Units shipped, net of cancelled shipments.</param>
/// <param name="BuiltMwh">Nameplate energy built.</param>
/// <param name="ShippedMwh">Nameplate energy shipped.</param>
/// <param name="CumulativeUnitsBuilt">Units built from the first up to <paramref name="LastDay"/>.</param>
/// <param name="UnitsBuiltTrailing30Days">Units built in the 30 local days ending with <paramref name="LastDay"/>.</param>
/// <param name="RunRateUnitsPerYear">The trailing 30 days annualized (× 365 / 30).</param>
/// <param name="Utilization">Run rate / nameplate; null without a published nameplate.</param>
public sealed record ThroughputBucket(
    DateOnly BucketStart, DateOnly LastDay, long UnitsBuilt, long TestsPassed, long TestsFailed, long FirstTests,
    long FirstTestsPassed, decimal? FirstPassYield, long UnitsShipped, decimal BuiltMwh, decimal ShippedMwh,
    long CumulativeUnitsBuilt, long UnitsBuiltTrailing30Days, decimal RunRateUnitsPerYear, decimal? Utilization);

/// <summary>A factory's throughput (<c>GET /api/v1/factories/{id}/throughput</c>).</summary>
/// <param name="FactoryId">The factory.</param>
/// <param name="Bucket"><c>day</c>, <c>week</c>, <c>month</c>, <c>quarter</c> or <c>year</c>.</param>
/// <param name="From">First local day of the range.</param>
/// <param name="To">Last local day of the range.</param>
/// <param name="NameplateUnitsPerYear">The factory's nameplate, when published.</param>
/// <param name="Buckets">The buckets, oldest first.</param>
public sealed record FactoryThroughput(
    string FactoryId, string Bucket, DateOnly From, DateOnly To, int? NameplateUnitsPerYear, IReadOnlyList<ThroughputBucket> Buckets)
{
    /// <summary>Which position the answer reflects.</summary>
    [JsonIgnore]
    public ReadFreshness Freshness { get; init; } = new(0, 0, false);
}

/// <summary>What throughput to read. Every field is optional.</summary>
public sealed record ThroughputQuery
{
    /// <summary>First local day (default: the factory's production start).</summary>
    public DateOnly? From { get; init; }

    /// <summary>Last local day (default: today).</summary>
    public DateOnly? To { get; init; }

    /// <summary><c>day</c>, <c>week</c> (default), <c>month</c>, <c>quarter</c> or <c>year</c>.</summary>
    public string? Bucket { get; init; }

    /// <summary>Wait (up to 5 seconds) until the read model has reached this position, such as a write's.</summary>
    public long? MinPosition { get; init; }
}

/// <summary>A factory's 1st or n-thousandth unit.</summary>
/// <param name="FactoryId">The factory.</param>
/// <param name="Nth">1, or a multiple of 1,000.</param>
/// <param name="Serial">The unit.</param>
/// <param name="OccurredAt">When it was built.</param>
/// <param name="LocalDate">The factory's local date of the build.</param>
public sealed record UnitMilestone(string FactoryId, long Nth, string Serial, DateTimeOffset OccurredAt, DateOnly LocalDate);

/// <summary>A factory's first (not cancelled) shipment to a market region.</summary>
/// <param name="FactoryId">The factory.</param>
/// <param name="Region">The market region.</param>
/// <param name="Serial">The unit shipped.</param>
/// <param name="Country">The destination country.</param>
/// <param name="OccurredAt">When it was shipped.</param>
/// <param name="LocalDate">The factory's local date of the shipment.</param>
public sealed record FirstShipmentMilestone(string FactoryId, string Region, string Serial, string Country, DateTimeOffset OccurredAt, DateOnly LocalDate);

/// <summary>A factory's milestones (<c>GET /api/v1/factories/{id}/milestones</c>).</summary>
/// <param name="FactoryId">The factory.</param>
/// <param name="Units">Its first unit and every 1,000th, in order.</param>
/// <param name="FirstShipmentsByRegion">Its first shipment to each region.</param>
public sealed record FactoryMilestones(string FactoryId, IReadOnlyList<UnitMilestone> Units, IReadOnlyList<FirstShipmentMilestone> FirstShipmentsByRegion)
{
    /// <summary>Which position the answer reflects.</summary>
    [JsonIgnore]
    public ReadFreshness Freshness { get; init; } = new(0, 0, false);
}

/// <summary>One group in one bucket of deployments.</summary>
/// <param name="BucketStart">First (UTC) day of the bucket.</param>
/// <param name="Region">Market region.</param>
/// <param name="Country">Country, when grouped by country or site.</param>
/// <param name="Site">Site, when grouped by site.</param>
/// <param name="UnitsShipped">Units shipped, net of cancelled shipments.</param>
/// <param name="ShippedMwh">Their nameplate energy.</param>
/// <param name="UnitsDelivered">Units delivered.</param>
/// <param name="DeliveredMwh">Their nameplate energy.</param>
/// <param name="UnitsCommissioned">Units commissioned.</param>
/// <param name="CommissionedMwh">Their nameplate energy.</param>
public sealed record DeploymentBucket(
    DateOnly BucketStart, string Region, string? Country, string? Site, long UnitsShipped, decimal ShippedMwh,
    long UnitsDelivered, decimal DeliveredMwh, long UnitsCommissioned, decimal CommissionedMwh);

/// <summary>Units in transit now to one group.</summary>
/// <param name="Region">Market region.</param>
/// <param name="Country">Country, when grouped by country or site.</param>
/// <param name="Site">Site, when grouped by site.</param>
/// <param name="Units">Units shipped and not yet delivered, cancelled or scrapped.</param>
/// <param name="Mwh">Their nameplate energy.</param>
public sealed record InTransit(string Region, string? Country, string? Site, long Units, decimal Mwh);

/// <summary>Where the energy went (<c>GET /api/v1/deployments</c>).</summary>
/// <param name="GroupBy"><c>region</c>, <c>country</c> or <c>site</c>.</param>
/// <param name="Bucket"><c>month</c>, <c>quarter</c> or <c>year</c>.</param>
/// <param name="From">First (UTC) day of the range.</param>
/// <param name="To">Last (UTC) day of the range.</param>
/// <param name="Region">The region asked for, if any.</param>
/// <param name="Buckets">Per bucket and group.</param>
/// <param name="InTransit">In transit now, per group.</param>
public sealed record Deployments(
    string GroupBy, string Bucket, DateOnly From, DateOnly To, string? Region, IReadOnlyList<DeploymentBucket> Buckets,
    IReadOnlyList<InTransit> InTransit)
{
    /// <summary>Which position the answer reflects.</summary>
    [JsonIgnore]
    public ReadFreshness Freshness { get; init; } = new(0, 0, false);
}

/// <summary>What deployments to read. Every field is optional.</summary>
public sealed record DeploymentsQuery
{
    /// <summary><c>region</c> (default), <c>country</c> or <c>site</c>.</summary>
    public string? GroupBy { get; init; }

    /// <summary><c>month</c>, <c>quarter</c> (default) or <c>year</c>.</summary>
    public string? Bucket { get; init; }

    /// <summary>First UTC day (default: 1 January two years ago).</summary>
    public DateOnly? From { get; init; }

    /// <summary>Last UTC day (default: today).</summary>
    public DateOnly? To { get; init; }

    /// <summary>Only this market region.</summary>
    public string? Region { get; init; }

    /// <summary>Wait (up to 5 seconds) until the read model has reached this position, such as a write's.</summary>
    public long? MinPosition { get; init; }
}

/// <summary>Why a projection stopped.</summary>
/// <param name="Error">The error.</param>
/// <param name="EventId">The event it failed on.</param>
/// <param name="Position">That event's position.</param>
/// <param name="FailedAt">When.</param>
/// <param name="DuringRebuild">Whether it failed while rebuilding.</param>
/// <param name="Category">For an integration subscription, Marten's classification of the failure (<c>ApplyEvent</c>,
/// <c>Other</c>, ...); null for a read model.</param>
public sealed record ProjectionFailure(string? Error, Guid? EventId, long? Position, DateTimeOffset? FailedAt, bool DuringRebuild, string? Category = null);

/// <summary>A rebuild under way.</summary>
/// <param name="RequestedAt">When it was asked for.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="EventsDone">Events replayed so far.</param>
/// <param name="EventsTotal">Events to replay.</param>
/// <param name="EventsPerSecond">Current speed.</param>
/// <param name="EtaSeconds">Estimated time left.</param>
public sealed record ProjectionRebuild(DateTimeOffset RequestedAt, DateTimeOffset? StartedAt, long EventsDone, long EventsTotal, double EventsPerSecond, double? EtaSeconds);

/// <summary>Where a read model stands (<c>GET /api/v1/projections</c>).</summary>
/// <param name="Name">The projection (<c>unit-status</c>, <c>factory-throughput</c>, ...).</param>
/// <param name="State"><c>running</c> or <c>failed</c>.</param>
/// <param name="Position">The global position it has applied.</param>
/// <param name="Cursor">Its feed cursor (<c>inline</c> for the inline read model).</param>
/// <param name="LagEvents">Events recorded that it has not applied yet.</param>
/// <param name="LagSeconds">How far behind it is in time.</param>
/// <param name="OwnerNode">The node running it.</param>
/// <param name="OwnerSince">Since when.</param>
/// <param name="Failure">Why it stopped, if it did.</param>
/// <param name="Rebuild">The rebuild under way, if any.</param>
/// <param name="LastRebuildFinishedAt">When the last rebuild finished.</param>
/// <param name="UpdatedAt">When its status last changed.</param>
/// <param name="Kind"><c>read-model</c>; <c>subscription</c> for an integration subscription, which the ledger lists only
/// when asked (<c>?include=subscriptions</c>; docs/api.md).</param>
public sealed record ProjectionStatus(
    string Name, string State, long Position, string Cursor, long LagEvents, double LagSeconds, string? OwnerNode,
    DateTimeOffset? OwnerSince, ProjectionFailure? Failure, ProjectionRebuild? Rebuild, DateTimeOffset? LastRebuildFinishedAt,
    DateTimeOffset UpdatedAt, string Kind = "read-model");

/// <summary>A message the ledger gave up on after its retries (<c>GET /api/v1/dead-letters</c>).</summary>
/// <param name="Id">Its id: the message id (for an integration event, the recorded event's id).</param>
/// <param name="MessageType">Its message type name.</param>
/// <param name="Destination">Where it was going.</param>
/// <param name="SentAt">When it was first sent.</param>
/// <param name="ExceptionType">The last failure's exception type.</param>
/// <param name="ExceptionMessage">The last failure's message.</param>
/// <param name="Replayable">Whether it is marked for replay.</param>
public sealed record DeadLetter(
    Guid Id, string MessageType, string? Destination, DateTimeOffset SentAt, string ExceptionType, string ExceptionMessage, bool Replayable);

/// <summary>A page of dead letters, newest first.</summary>
/// <param name="Total">How many match in all.</param>
/// <param name="Page">This page's number, from 0.</param>
/// <param name="DeadLetters">The page.</param>
public sealed record DeadLetterPage(int Total, int Page, IReadOnlyList<DeadLetter> DeadLetters);

/// <summary>What a replay did.</summary>
/// <param name="Replaying">The ids marked for replay.</param>
/// <param name="NotFound">The ids that are not dead letters.</param>
public sealed record DeadLettersReplayed(IReadOnlyList<Guid> Replaying, IReadOnlyList<Guid> NotFound);
