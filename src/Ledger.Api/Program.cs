using Ledger.Api.Access;
using Ledger.Api.Features;
using Ledger.Api.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddLedgerServiceDefaults();
builder.Services.AddLedgerFeatures();

var app = builder.Build();
app.UseLedgerServiceDefaults();

var api = app.MapGroup("/api/v1");
api.MapWhoAmI();
api.MapLedgerFeatures();

await app.RunAsync();

/// <summary>The entry point, public for <c>WebApplicationFactory&lt;Program&gt;</c> in the tests.</summary>
public partial class Program;
