using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using RcAspNet.Stores;

namespace RcAspNet;

/// <summary>Puts every request in a <see cref="FailureBudget"/> scope, first in the pipeline, so that a failed cache server costs a request one timeout at most.</summary>
internal sealed class RcFailureBudgetStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        // An async method of its own: the budget it opens ends with it.
        app.Use(static async (context, proceed) =>
        {
            FailureBudget.Open();
            await proceed(context).ConfigureAwait(false);
        });
        next(app);
    };
}
