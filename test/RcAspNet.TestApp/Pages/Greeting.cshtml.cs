using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace RcAspNet.TestApp.Pages;

/// <summary>A Razor Page cached by [RcCached] on its model: keyed by its GET handler's argument and its GET-bound property.</summary>
[RcCached(Tags = ["greetings"])]
public sealed class GreetingModel(Counters counters) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public int Times { get; set; }

    public string Name { get; private set; } = "";

    public int Number { get; private set; }

    public void OnGet(string name)
    {
        Name = name;
        Number = counters.Next("greeting");
    }
}
