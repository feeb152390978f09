namespace RcAspNet.Stores.Redis;

/// <summary>One RESP reply as <see cref="RespConnection"/> read it.</summary>
internal readonly struct RespReply
{
    private RespReply(RespKind kind, string? text = null, long integer = 0, byte[]? bulk = null, RespReply[]? items = null)
    {
        Kind = kind;
        Text = text;
        Integer = integer;
        BulkValue = bulk;
        Items = items;
    }

    public static RespReply Null => new(RespKind.Null);

    public RespKind Kind { get; }

    /// <summary>Gets the text of a simple string or an error.</summary>
    public string? Text { get; }

    public long Integer { get; }

    public byte[]? BulkValue { get; }

    /// <summary>Gets the items of an array or a push message (a map's keys and values alternate).</summary>
    public RespReply[]? Items { get; }

    public bool IsError => Kind == RespKind.Error;

    public static RespReply Simple(string text) => new(RespKind.Simple, text);

    public static RespReply Error(string text) => new(RespKind.Error, text);

    public static RespReply FromInteger(long value) => new(RespKind.Integer, integer: value);

    public static RespReply Bulk(byte[] value) => new(RespKind.Bulk, bulk: value);

    public static RespReply Array(RespReply[] items) => new(RespKind.Array, items: items);

    public static RespReply Push(RespReply[] items) => new(RespKind.Push, items: items);

    /// <summary>Gets the reply as text: a simple string, or a bulk string read as UTF-8.</summary>
    public string? AsString() => Kind == RespKind.Bulk ? System.Text.Encoding.UTF8.GetString(BulkValue!) : Text;

    /// <summary>Throws <see cref="RespErrorException"/> when the server answered with an error.</summary>
    public RespReply ThrowIfError() => IsError ? throw new RespErrorException(Text!) : this;
}
