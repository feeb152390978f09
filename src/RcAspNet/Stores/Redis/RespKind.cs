namespace RcAspNet.Stores.Redis;

internal enum RespKind
{
    Null,
    Simple,
    Error,
    Integer,
    Bulk,
    Array,
    Push,
}
