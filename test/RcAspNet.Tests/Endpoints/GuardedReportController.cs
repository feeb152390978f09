using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;

namespace RcAspNet.Tests.Endpoints;

/// <summary>Actions that MVC authorization filters guard: an API-key filter of the application's, which a hit would skip, and [RequireHttps].</summary>
[Route("guarded-report")]
public sealed class GuardedReportController : ControllerBase
{
    [HttpGet("key")]
    [ApiKey]
    [RcCached]
    public string ByKey() => "report";

    [HttpGet("https")]
    [RequireHttps]
    [RcCached]
    public string OverHttps() => "report";

    [HttpGet("typed")]
    [TypeFilter(typeof(ApiKeyAttribute))]
    [RcCached(UserScope = RcUserScope.PerUser)]
    public string ByTypedKey() => "report";

    /// <summary>Lets a request in only with the right X-Api-Key, whoever its user is.</summary>
    private sealed class ApiKeyAttribute : Attribute, IAuthorizationFilter
    {
        public void OnAuthorization(AuthorizationFilterContext context)
        {
            if (context.HttpContext.Request.Headers["X-Api-Key"] != "secret")
            {
                context.Result = new UnauthorizedResult();
            }
        }
    }
}
