using System.Collections.Frozen;
using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;

namespace Ledger.Api.Dashboard;

/// <summary>One file of the dashboard, as served: its bytes, and a gzip copy when that is smaller.</summary>
internal sealed record DashboardAsset(string Name, string ContentType, byte[] Content, byte[]? Gzipped, EntityTagHeaderValue ETag, EntityTagHeaderValue GzippedETag);

/// <summary>
/// The dashboard's static files, embedded in this assembly by the build (Dashboard.targets bundles them with esbuild).
/// They are read and compressed once per process: a few hundred kilobytes that never change while it runs.
/// </summary>
internal sealed class DashboardAssets
{
    private const string ResourcePrefix = "dashboard/";
    private static readonly Lazy<DashboardAssets> Loaded = new(() => Load(typeof(DashboardAssets).Assembly));
    private readonly FrozenDictionary<string, DashboardAsset> files;

    private DashboardAssets(FrozenDictionary<string, DashboardAsset> files) => this.files = files;

    /// <summary>The files embedded in Ledger.Api.</summary>
    public static DashboardAssets Embedded => Loaded.Value;

    public const string Page = "index.html";

    public bool TryGet(string name, out DashboardAsset asset) => files.TryGetValue(name, out asset!);

    private static DashboardAssets Load(System.Reflection.Assembly assembly)
    {
        var contentTypes = new FileExtensionContentTypeProvider();
        var files = new Dictionary<string, DashboardAsset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var name = resource[ResourcePrefix.Length..];
            var contentType = contentTypes.TryGetContentType(name, out var type) ? type : "application/octet-stream";
            if (contentType.StartsWith("text/", StringComparison.Ordinal) || contentType.EndsWith("javascript", StringComparison.Ordinal))
            {
                contentType += "; charset=utf-8";
            }

            var gzipped = Gzip(content);
            var hash = Convert.ToHexStringLower(SHA256.HashData(content).AsSpan(0, 12));
            files[name] = new DashboardAsset(name, contentType, content, gzipped.Length < content.Length * 0.9 ? gzipped : null,
                new EntityTagHeaderValue($"\"{hash}\""), new EntityTagHeaderValue($"\"{hash}-gzip\""));
        }

        // The build embeds the bundle or fails (Dashboard.targets); an assembly without it was not built by that target.
        if (!files.ContainsKey(Page))
        {
            throw new InvalidOperationException("Ledger.Api was built without the dashboard bundle (dashboard/index.html is not embedded).");
        }

        return new DashboardAssets(files.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static byte[] Gzip(byte[] content)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(content);
        }

        return output.ToArray();
    }
}
