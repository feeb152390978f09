using Microsoft.AspNetCore.Mvc;

namespace RcAspNet.Tests.Endpoints;

/// <summary>An action shared by everyone, which a global MVC AuthorizeFilter would authorize.</summary>
[Route("shared-report")]
public sealed class SharedReportController : ControllerBase
{
    [HttpGet]
    [RcCached(UserScope = RcUserScope.Shared)]
    public string Get() => "report";
}
