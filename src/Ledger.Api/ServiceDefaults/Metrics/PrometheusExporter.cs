using System.Diagnostics.Metrics;
using System.Text;

namespace Ledger.Api.ServiceDefaults.Metrics;

/// <summary>
/// Aggregates <see cref="System.Diagnostics.Metrics"/> measurements with a <see cref="MeterListener"/> and writes them in
/// the Prometheus text exposition format 0.0.4 (prometheus-net and OpenTelemetry are not available to this build, and
/// this is all they would do here). Counters are summed; up-down counters summed and shown as gauges; observable
/// instruments read at each scrape; histograms kept as cumulative buckets with <c>_sum</c> and <c>_count</c>.
/// </summary>
/// <remarks>
/// It listens to the meters the host's <see cref="IMeterFactory"/> made (the store's, ASP.NET Core's HTTP metrics),
/// so two hosts in one process — tests — never mix their figures, plus the process-wide runtime meter.
/// </remarks>
internal sealed class PrometheusExporter : IDisposable
{
    /// <summary>Meters made by the host's meter factory that are exported.</summary>
    public static IReadOnlySet<string> HostMeters { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        EventStore.EventStoreInstrumentation.MeterName,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
    };

    /// <summary>Process-wide meters (not made by a factory) that are exported.</summary>
    public static IReadOnlySet<string> ProcessMeters { get; } = new HashSet<string>(StringComparer.Ordinal) { "System.Runtime" };

    // OpenTelemetry's default explicit buckets, for histograms that give no advice of their own.
    private static readonly double[] DefaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly IMeterFactory _meterFactory;
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, Family> _families = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public PrometheusExporter(IMeterFactory meterFactory)
    {
        _meterFactory = meterFactory;
        _listener.InstrumentPublished = Publish;
        _listener.SetMeasurementEventCallback<byte>((i, v, tags, state) => ((Family)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<short>((i, v, tags, state) => ((Family)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, state) => ((Family)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, state) => ((Family)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, state) => ((Family)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, state) => ((Family)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<decimal>((i, v, tags, state) => ((Family)state!).Record((double)v, tags));
        _listener.Start();
    }

    /// <summary>Reads the observable instruments and writes every family, sorted by name.</summary>
    public string Scrape()
    {
        lock (_gate)
        {
            foreach (var family in _families.Values) family.BeginScrape();
            _listener.RecordObservableInstruments();
            var text = new StringBuilder(16 * 1024);
            foreach (var family in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal)) family.WriteTo(text);
            return text.ToString();
        }
    }

    private void Publish(Instrument instrument, MeterListener listener)
    {
        var meter = instrument.Meter;
        var exported = (ReferenceEquals(meter.Scope, _meterFactory) && HostMeters.Contains(meter.Name))
                       || (meter.Scope is null && ProcessMeters.Contains(meter.Name));
        if (!exported) return;

        var kind = KindOf(instrument);
        var name = PrometheusText.MetricName(instrument.Name, instrument.Unit, kind is Kind.Counter or Kind.ObservableCounter);
        Family family;
        lock (_gate)
        {
            if (!_families.TryGetValue(name, out var existing))
            {
                _families[name] = existing = new Family(name, instrument.Description ?? instrument.Name, kind, Buckets(instrument));
            }
            else if (existing.Kind != kind)
            {
                return; // Two instruments of different kinds under one name: the first one keeps it.
            }

            family = existing;
        }

        listener.EnableMeasurementEvents(instrument, family);
    }

    private static Kind KindOf(Instrument instrument)
    {
        var type = instrument.GetType().IsGenericType ? instrument.GetType().GetGenericTypeDefinition() : instrument.GetType();
        if (type == typeof(Counter<>)) return Kind.Counter;
        if (type == typeof(ObservableCounter<>)) return Kind.ObservableCounter;
        if (type == typeof(UpDownCounter<>)) return Kind.UpDownCounter;
        if (type == typeof(Histogram<>)) return Kind.Histogram;
        return instrument.IsObservable ? Kind.ObservableGauge : Kind.Gauge; // ObservableGauge, ObservableUpDownCounter; Gauge
    }

    private static double[] Buckets(Instrument instrument) => instrument switch
    {
        Histogram<byte> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<short> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<int> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<long> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<float> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<double> { Advice.HistogramBucketBoundaries: { } b } => [.. b],
        Histogram<decimal> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        _ => DefaultBuckets,
    };

    public void Dispose() => _listener.Dispose();

    private enum Kind { Counter, ObservableCounter, UpDownCounter, Gauge, ObservableGauge, Histogram }

    /// <summary>One metric family: its series by label set.</summary>
    private sealed class Family(string name, string help, Kind kind, double[] buckets)
    {
        private readonly Dictionary<string, Series> _series = new(StringComparer.Ordinal);

        public string Name { get; } = name;
        public Kind Kind { get; } = kind;

        private bool IsObserved => Kind is Kind.ObservableCounter or Kind.ObservableGauge;

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            lock (_series)
            {
                if (!_series.TryGetValue(labels, out var series)) _series[labels] = series = new Series(Kind == Kind.Histogram ? buckets.Length + 1 : 0);
                switch (Kind)
                {
                    case Kind.Counter or Kind.UpDownCounter:
                        series.Value += value;
                        break;
                    case Kind.Histogram:
                        var bucket = 0;
                        while (bucket < buckets.Length && value > buckets[bucket]) bucket++;
                        series.Counts[bucket]++;
                        series.Value += value;
                        series.Count++;
                        break;
                    default:
                        // Observable counters report their running total; gauges their current value.
                        series.Value = value;
                        break;
                }
            }
        }

        /// <summary>Observable series are reported afresh at every scrape, so one that is no longer observed disappears.</summary>
        public void BeginScrape()
        {
            if (!IsObserved) return;
            lock (_series) _series.Clear();
        }

        public void WriteTo(StringBuilder text)
        {
            KeyValuePair<string, Series>[] series;
            lock (_series)
            {
                series = [.. _series.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => KeyValuePair.Create(s.Key, s.Value.Copy()))];
            }

            if (series.Length == 0) return;
            var type = Kind switch
            {
                Kind.Counter or Kind.ObservableCounter => "counter",
                Kind.Histogram => "histogram",
                _ => "gauge",
            };
            text.Append("# HELP ").Append(Name).Append(' ').Append(PrometheusText.Help(help)).Append('\n');
            text.Append("# TYPE ").Append(Name).Append(' ').Append(type).Append('\n');
            foreach (var (labels, s) in series)
            {
                if (Kind != Kind.Histogram)
                {
                    Sample(text, Name, labels, null, PrometheusText.Number(s.Value));
                    continue;
                }

                long cumulative = 0;
                for (var i = 0; i < buckets.Length; i++)
                {
                    cumulative += s.Counts[i];
                    Sample(text, Name + "_bucket", labels, PrometheusText.Number(buckets[i]), cumulative.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }

                Sample(text, Name + "_bucket", labels, "+Inf", s.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Sample(text, Name + "_sum", labels, null, PrometheusText.Number(s.Value));
                Sample(text, Name + "_count", labels, null, s.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        private static void Sample(StringBuilder text, string name, string labels, string? le, string value)
        {
            text.Append(name);
            if (labels.Length > 0 || le is not null)
            {
                text.Append('{').Append(labels);
                if (le is not null) text.Append(labels.Length > 0 ? "," : string.Empty).Append("le=\"").Append(le).Append('"');
                text.Append('}');
            }

            text.Append(' ').Append(value).Append('\n');
        }

        /// <summary>The label set as it is written (<c>a="x",b="y"</c>, sorted by name): also the series' key.</summary>
        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0) return string.Empty;
            var sorted = new KeyValuePair<string, string>[tags.Length];
            for (var i = 0; i < tags.Length; i++) sorted[i] = KeyValuePair.Create(PrometheusText.LabelName(tags[i].Key), PrometheusText.TagValue(tags[i].Value));
            Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Key, b.Key));
            var text = new StringBuilder(64);
            for (var i = 0; i < sorted.Length; i++)
            {
                if (i > 0 && sorted[i].Key == sorted[i - 1].Key) continue; // A label may appear once.
                if (text.Length > 0) text.Append(',');
                text.Append(sorted[i].Key).Append("=\"");
                PrometheusText.AppendLabelValue(text, sorted[i].Value);
                text.Append('"');
            }

            return text.ToString();
        }
    }

    private sealed class Series(int buckets)
    {
        public double Value { get; set; }
        public long Count { get; set; }
        public long[] Counts { get; private init; } = new long[buckets];

        public Series Copy() => new(0) { Value = Value, Count = Count, Counts = (long[])Counts.Clone() };
    }
}
