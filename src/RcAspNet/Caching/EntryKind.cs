namespace RcAspNet.Caching;

internal enum EntryKind
{
    Plain,
    Wrapped,
    Corrupt,
}
