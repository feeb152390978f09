using System.Text;

namespace RcAspNet.TestApp;

/// <summary>Writes its text to the response's <c>BodyWriter</c> without flushing it: the server completes the writer.</summary>
public sealed class WriterResult(string text) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.ContentType = "text/plain";
        var writer = httpContext.Response.BodyWriter;
        writer.Advance(Encoding.UTF8.GetBytes(text, writer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length))));
        return Task.CompletedTask;
    }
}
