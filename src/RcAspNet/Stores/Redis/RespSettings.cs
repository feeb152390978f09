namespace RcAspNet.Stores.Redis;

/// <summary>How to reach one server: what <see cref="RespConnection.Open"/> needs beyond the endpoint.</summary>
internal sealed record RespSettings(string? User, string? Password, int Database, bool Ssl, string? SslHost, System.Security.Authentication.SslProtocols SslProtocols);
