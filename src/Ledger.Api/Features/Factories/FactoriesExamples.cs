namespace Ledger.Api.Features.Factories;

/// <summary>What the OpenAPI document shows for the factory registry (docs/api.md, "Factories").</summary>
internal static class FactoriesExamples
{
    public const string Shanghai = """
        {"id": "shanghai", "name": "Megafactory Shanghai", "location": "Lingang New Area, Shanghai, China", "country": "CN",
         "timeZone": "Asia/Shanghai", "status": "producing", "nameplateUnitsPerYear": 10000,
         "constructionStarted": "2024-05-23", "productionStarted": "2025-02-11"}
        """;

    public const string List = $"[{Shanghai}]";

    public const string Waller = """
        {"id": "waller", "name": "Megafactory Waller County", "location": "Waller County, Texas, USA", "country": "US",
         "timeZone": "America/Chicago", "status": "producing", "nameplateUnitsPerYear": 10000,
         "constructionStarted": null, "productionStarted": "2026-09-01"}
        """;
}
