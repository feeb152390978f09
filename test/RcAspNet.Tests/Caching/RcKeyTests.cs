using System.Globalization;

namespace RcAspNet.Tests.Caching;

public sealed class RcKeyTests
{
    private enum Color
    {
        Red,
        Green,
    }

    [Flags]
    private enum Access
    {
        Read = 1,
        Write = 2,
    }

    [Fact]
    public void StringsWithSpaces_DoNotCollideWithSeveralArguments() =>
        Assert.NotEqual(RcKey.For("f", "a b"), RcKey.For("f", "a", "b"));

    [Fact]
    public void KeyFormat_IsPrefixNameAndArgumentsSeparatedBySpaces()
    {
        Assert.Equal("v2 Post.GetById 42", RcKey.WithPrefix("v2", "Post.GetById", 42));
        Assert.Equal("ShowPost 42 \"a b\" null true", RcKey.For("ShowPost", 42, "a b", null, true));
        Assert.Equal("Index", RcKey.For("Index"));
    }

    [Fact]
    public void Strings_AreJsonLiterals()
    {
        Assert.Equal("f \"line\\nbreak\" \"quote\\\"\" \"back\\\\slash\" \"tab\\t\" \"ctl\\u0001\" \"中文\"", RcKey.For("f", "line\nbreak", "quote\"", "back\\slash", "tab\t", "ctl\u0001", "中文"));
        Assert.Equal("f \"\"", RcKey.For("f", ""));
        Assert.NotEqual(RcKey.For("f", "null"), RcKey.For("f", [null]));
        Assert.NotEqual(RcKey.For("f", "1"), RcKey.For("f", 1));
    }

    [Fact]
    public void Numbers_AreInvariantWhateverTheCulture()
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("de-DE");
        try
        {
            Assert.Equal("f 1.5 -3 1000000 0.1 2.5 12345678901234567890", RcKey.For("f", 1.5, -3, 1000000L, 0.1f, 2.50m, 12345678901234567890UL));
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    [Fact]
    public void DecimalsWithTrailingZeros_ShareTheirKey() => Assert.Equal(RcKey.For("f", 1.0m), RcKey.For("f", 1.00m));

    [Fact]
    public void DatesAndTimes_AreIso8601()
    {
        var utc = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        Assert.Equal("f 2026-01-02T03:04:05.0000000Z", RcKey.For("f", utc));
        Assert.Equal(RcKey.For("f", utc), RcKey.For("f", utc.ToLocalTime()));
        Assert.Equal("f 2026-01-02T03:04:05.0000000+02:00", RcKey.For("f", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2))));
        Assert.Equal("f 2026-01-02 13:30:00.0000000 1.02:03:04", RcKey.For("f", new DateOnly(2026, 1, 2), new TimeOnly(13, 30), new TimeSpan(1, 2, 3, 4)));
    }

    [Fact]
    public void EnumsAndGuids_HaveOneForm()
    {
        Assert.Equal("f Green Read|Write 42", RcKey.For("f", Color.Green, Access.Read | Access.Write, (Color)42));
        Assert.Equal("f 01234567-89ab-cdef-0123-456789abcdef", RcKey.For("f", Guid.Parse("0123456789abcdef0123456789abcdef")));
    }

    [Fact]
    public void UnsupportedArgument_IsAnArgumentErrorNamingTheRule()
    {
        var error = Assert.Throws<ArgumentException>(() => RcKey.For("f", new object()));
        Assert.Equal("args", error.ParamName);
        Assert.Contains("no stable key form", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("two words")]
    public void NameWithWhitespaceOrEmpty_IsAnArgumentError(string name) =>
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => RcKey.For(name)).ParamName);
}
