using System.Text;
using RcAspNet.Caching;

namespace RcAspNet.Tests.Caching;

/// <summary>The bytes rc's Python JSONSerializer (json.dumps) writes, read and written by the default serializer.</summary>
public sealed class PythonJsonInteropTests
{
    private static readonly RcJsonSerializer Serializer = new();

    public sealed record Post(int Id, string Title, string[] Tags);

    // json.dumps({"a": 1})
    [Fact]
    public void Dict_RoundTripsAsPythonWritesIt() => RoundTrip("{\"a\": 1}", new Dictionary<string, int> { ["a"] = 1 });

    // json.dumps([1, 2, 3]); json.dumps([])
    [Fact]
    public void Lists_RoundTripAsPythonWritesThem()
    {
        RoundTrip("[1, 2, 3]", new[] { 1, 2, 3 });
        RoundTrip("[]", Array.Empty<int>());
    }

    // json.dumps(u"中文 café"); json.dumps(u"\U0001F600")
    [Fact]
    public void Unicode_IsEscapedAsPythonEscapesIt()
    {
        RoundTrip("\"\\u4e2d\\u6587 caf\\u00e9\"", "中文 café");
        RoundTrip("\"\\ud83d\\ude00\"", "😀");
    }

    // json.dumps(None)
    [Fact]
    public void Null_IsNull()
    {
        RoundTrip<string?>("null", null);
        RoundTrip<Post?>("null", null);
    }

    // json.dumps('a"b\\c\n\t<>&\x7f')
    [Fact]
    public void Escapes_MatchPython() => RoundTrip("\"a\\\"b\\\\c\\n\\t<>&\\u007f\"", "a\"b\\c\n\t<>&\u007f");

    // json.dumps({"id": 1, "title": "Hi", "tags": ["x", "y"]}) with Python 3.7+ insertion order
    [Fact]
    public void Object_IsWrittenWithCamelCaseNamesAndPythonSeparators() =>
        RoundTrip("{\"id\": 1, \"title\": \"Hi\", \"tags\": [\"x\", \"y\"]}", new Post(1, "Hi", ["x", "y"]), static (a, b) => a!.Id == b!.Id && a.Title == b.Title && a.Tags.SequenceEqual(b.Tags));

    // json.dumps(True), json.dumps(1.5), json.dumps(1e+20)
    [Fact]
    public void Scalars_MatchPython()
    {
        RoundTrip("true", true);
        RoundTrip("1.5", 1.5);
        RoundTrip("1e+20", 1e20);
    }

    // repr(x) of each float, which json.dumps writes: 1.0 and not 1 (an int to Python), an exponent outside 1e-4..1e16
    [Theory]
    [InlineData(1.0, "1.0")]
    [InlineData(-2.0, "-2.0")]
    [InlineData(100.0, "100.0")]
    [InlineData(0.0, "0.0")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(123.456, "123.456")]
    [InlineData(0.1, "0.1")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(12345678901234567.0, "1.2345678901234568e+16")]
    [InlineData(1e20, "1e+20")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(5e-324, "5e-324")]
    public void Floats_AreWrittenAsPythonsRepr_AndReadBack(double value, string python) => RoundTrip(python, value);

    [Fact]
    public void FloatsInsideValues_AreWrittenAsPythonsRepr()
    {
        RoundTrip("{\"a\": 1.0, \"b\": [2.5, 3.0]}", new Dictionary<string, object> { ["a"] = 1.0, ["b"] = new[] { 2.5, 3.0 } }, static (_, _) => true);
        RoundTrip("[1.0, 0.5]", new[] { 1.0f, 0.5f });
        Assert.Equal(1.5, Serializer.Deserialize<double>("\"1.5\""u8)); // the web defaults read numbers from strings
    }

    [Fact]
    public void PythonsOwnBytes_AreReadWhateverTheirKeyOrder()
    {
        var post = Serializer.Deserialize<Post>("{\"tags\": [], \"title\": \"T\", \"id\": 7}"u8);
        Assert.Equal(7, post.Id);
        Assert.Equal("T", post.Title);
    }

    private static void RoundTrip<T>(string python, T value, Func<T, T, bool>? equal = null)
    {
        Assert.Equal(python, Encoding.UTF8.GetString(Serializer.Serialize(value)));
        var read = Serializer.Deserialize<T>(Encoding.UTF8.GetBytes(python));
        Assert.True(equal?.Invoke(value, read) ?? Equals(value, read) || (value is System.Collections.IEnumerable a && read is System.Collections.IEnumerable b && a.Cast<object>().SequenceEqual(b.Cast<object>())), $"Read back {read}.");
    }
}
