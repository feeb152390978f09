namespace RcAspNet;

/// <summary>Whose requests the entries of an <see cref="RcCachedAttribute"/> endpoint serve.</summary>
public enum RcUserScope
{
    /// <summary>Anonymous requests only: a request of an authenticated user, or one with an <c>Authorization</c> header, is answered without the cache.</summary>
    AnonymousOnly,

    /// <summary>Every user, each with entries of their own: the user's identifier (<c>NameIdentifier</c>, else the name) is the last key argument.</summary>
    PerUser,

    /// <summary>Everyone alike, signed in or not: the result does not depend on the user.</summary>
    Shared,
}
