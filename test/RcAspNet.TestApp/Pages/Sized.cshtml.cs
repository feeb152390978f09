using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace RcAspNet.TestApp.Pages;

/// <summary>A Razor Page cached by [RcCached] whose bound property and handler parameter have defaults of their own.</summary>
[RcCached]
public sealed class SizedModel : PageModel
{
    [BindProperty(SupportsGet = true)]
    public int Size { get; set; } = 20;

    public int Number { get; private set; }

    public void OnGet(int number = 1) => Number = number;
}
