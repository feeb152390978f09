namespace RcAspNet.Endpoints;

/// <summary>Whether MVC's model binding binds a key argument, and whether the endpoint named the argument's source.</summary>
internal enum MvcBinding
{
    /// <summary>A minimal-API parameter, or a value the key reads as the framework does (a Razor Page's handler name).</summary>
    None,

    /// <summary>Model binding, from the source the endpoint names ([FromQuery], [FromRoute], [FromHeader], [FromForm]).</summary>
    Explicit,

    /// <summary>Model binding from every value provider in turn: the form first, then the route, then the query string.</summary>
    Inferred,
}
