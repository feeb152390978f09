namespace RcAspNet.Stores;

internal enum CircuitState
{
    Closed,
    Open,
    HalfOpen,
}
