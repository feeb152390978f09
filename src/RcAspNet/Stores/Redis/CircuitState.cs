namespace RcAspNet.Stores.Redis;

internal enum CircuitState
{
    Closed,
    Open,
}
