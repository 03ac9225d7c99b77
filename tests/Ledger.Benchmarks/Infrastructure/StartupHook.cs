using System.Globalization;
using System.Net.Sockets;
using System.Text;

#pragma warning disable CA1050 // The runtime finds a startup hook by this exact name, outside any namespace.

/// <summary>
/// Loaded into the service process by the benchmark (DOTNET_STARTUP_HOOKS) — the service itself is unchanged. It answers
/// every connection on the Unix socket named by LEDGER_BENCH_PROBE with one line: the bytes the process has allocated so
/// far (GC.GetTotalAllocatedBytes(precise: true), every thread, every object), its collection counts and the time the
/// garbage collector has paused it. The benchmark
/// reads it before and after a phase; the difference divided by the events appended is "allocations per appended
/// event". Costs nothing between reads: one thread blocked in accept().
/// </summary>
public static class StartupHook
{
    public const string SocketVariable = "LEDGER_BENCH_PROBE";

    public static void Initialize()
    {
        if (Environment.GetEnvironmentVariable(SocketVariable) is not { Length: > 0 } path) return;
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        new Thread(() => Serve(listener)) { IsBackground = true, Name = "benchmark probe" }.Start();
    }

    private static void Serve(Socket listener)
    {
        while (true)
        {
            using var client = listener.Accept();
            var line = string.Create(CultureInfo.InvariantCulture,
                $"{GC.GetTotalAllocatedBytes(precise: true)} {GC.CollectionCount(0)} {GC.CollectionCount(1)} {GC.CollectionCount(2)} {GC.GetTotalPauseDuration().Ticks}\n");
            client.Send(Encoding.ASCII.GetBytes(line));
        }
    }
}
