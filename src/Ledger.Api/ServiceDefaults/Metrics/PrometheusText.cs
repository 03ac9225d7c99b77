using System.Globalization;
using System.Text;

namespace Ledger.Api.ServiceDefaults.Metrics;

/// <summary>
/// Names, labels and numbers as the Prometheus text exposition format 0.0.4 wants them, from OpenTelemetry-style
/// instrument names (<c>eventstore.append.duration</c>, unit <c>s</c> → <c>eventstore_append_duration_seconds</c>).
/// </summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The metric family name: sanitized, with the unit's suffix, and <c>_total</c> for counters.</summary>
    public static string MetricName(string instrumentName, string? unit, bool isCounter)
    {
        var name = Sanitize(instrumentName, allowColon: true);
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !name.EndsWith("_" + suffix, StringComparison.Ordinal)) name += "_" + suffix;
        if (isCounter && !name.EndsWith("_total", StringComparison.Ordinal)) name += "_total";
        return name;
    }

    /// <summary>A label name: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>, never starting with the reserved <c>__</c>.</summary>
    public static string LabelName(string tagKey)
    {
        var name = Sanitize(tagKey, allowColon: false);
        return name.StartsWith("__", StringComparison.Ordinal) ? "_" + name.TrimStart('_') : name;
    }

    /// <summary>A label value inside double quotes: backslash, double quote and line feed escaped.</summary>
    public static void AppendLabelValue(StringBuilder text, string value)
    {
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => text.Append(@"\\"),
                '"' => text.Append("\\\""),
                '\n' => text.Append(@"\n"),
                _ => text.Append(c),
            };
        }
    }

    /// <summary>HELP text: backslash and line feed escaped.</summary>
    public static string Help(string text) => text.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    /// <summary>A sample value: shortest round-trip form, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    public static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>A tag value as label text.</summary>
    public static string TagValue(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    /// <summary>
    /// The suffix for an UCUM unit as the OpenTelemetry-to-Prometheus conversion has it: <c>s</c> → seconds, <c>By</c> →
    /// bytes, <c>{request}</c> (an annotation) → nothing, <c>x/y</c> → <c>x_per_y</c>.
    /// </summary>
    public static string UnitSuffix(string? unit)
    {
        if (string.IsNullOrWhiteSpace(unit)) return string.Empty;
        var withoutAnnotations = new StringBuilder();
        var depth = 0;
        foreach (var c in unit)
        {
            if (c == '{') depth++;
            else if (c == '}') depth = Math.Max(0, depth - 1);
            else if (depth == 0) withoutAnnotations.Append(c);
        }

        var parts = withoutAnnotations.ToString().Split('/', 2);
        var main = Word(parts[0]);
        if (parts.Length == 1) return main;
        var per = Word(parts[1]) switch { "seconds" => "second", "minutes" => "minute", "hours" => "hour", "days" => "day", var w => w };
        return main.Length == 0 ? per.Length == 0 ? string.Empty : "per_" + per : per.Length == 0 ? main : $"{main}_per_{per}";
    }

    private static string Word(string unit) => unit.Trim() switch
    {
        "" or "1" => string.Empty,
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "%" => "percent",
        var other => Sanitize(other, allowColon: false),
    };

    private static string Sanitize(string text, bool allowColon)
    {
        var name = new StringBuilder(text.Length + 1);
        foreach (var c in text)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':') ? c : '_');
        }

        if (name.Length == 0 || char.IsAsciiDigit(name[0])) name.Insert(0, '_');
        return name.ToString();
    }
}
