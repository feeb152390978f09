using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;

namespace RcAspNet.Tests.Endpoints;

/// <summary>An action whose argument a model binder of the application's reads, from the host: no key argument can read it.</summary>
[Route("tenant-report")]
public sealed class TenantReportController : ControllerBase
{
    [HttpGet]
    [RcCached]
    public string Get([ModelBinder(typeof(TenantFromHost))] string tenant) => $"report of {tenant}";

    private sealed class TenantFromHost : IModelBinder
    {
        public Task BindModelAsync(ModelBindingContext bindingContext)
        {
            bindingContext.Result = ModelBindingResult.Success(bindingContext.HttpContext.Request.Host.Host);
            return Task.CompletedTask;
        }
    }
}
