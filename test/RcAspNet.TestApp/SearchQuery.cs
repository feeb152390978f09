namespace RcAspNet.TestApp;

/// <summary>What a GET with a JSON body asks for (<c>/body/search</c>): the handler reads it, and no key holds it.</summary>
public sealed record SearchQuery(string Text);
