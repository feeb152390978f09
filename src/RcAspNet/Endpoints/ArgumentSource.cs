namespace RcAspNet.Endpoints;

/// <summary>Where the request holds a key argument.</summary>
internal enum ArgumentSource
{
    Route,
    Query,
    Header,
    Form,

    /// <summary>MVC without an explicit source: the route value when there is one, else the query string.</summary>
    RouteThenQuery,
}
