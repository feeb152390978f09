using Microsoft.AspNetCore.Mvc.RazorPages;

namespace RcAspNet.TestApp.Pages;

/// <summary>A Razor Page cached by [RcCached] with a named GET handler (<c>?handler=Csv</c>) beside its default one.</summary>
[RcCached]
public sealed class ReportModel(Counters counters) : PageModel
{
    public int Id { get; private set; }

    public string Format { get; private set; } = "";

    public int Number { get; private set; }

    public void OnGet(int id) => (Id, Format, Number) = (id, "html", counters.Next("report"));

    public void OnGetCsv(int id, string? separator) => (Id, Format, Number) = (id, $"csv({separator})", counters.Next("report"));
}
