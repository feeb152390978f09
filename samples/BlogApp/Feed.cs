using System.Text;
using System.Xml;

namespace BlogApp;

/// <summary>An Atom feed of the posts.</summary>
public static class Feed
{
    public static string Render(IEnumerable<PostView> posts)
    {
        var text = new StringBuilder();
        using (var xml = XmlWriter.Create(text, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
        {
            xml.WriteStartElement("feed", "http://www.w3.org/2005/Atom");
            xml.WriteElementString("title", "http://www.w3.org/2005/Atom", "Blog");
            foreach (var post in posts)
            {
                xml.WriteStartElement("entry", "http://www.w3.org/2005/Atom");
                xml.WriteElementString("id", "http://www.w3.org/2005/Atom", $"/post/{post.Id}");
                xml.WriteElementString("title", "http://www.w3.org/2005/Atom", post.Title);
                xml.WriteElementString("updated", "http://www.w3.org/2005/Atom", DateTimeOffset.FromUnixTimeSeconds(post.UpdatedTs).ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                xml.WriteEndElement();
            }

            xml.WriteEndElement();
        }

        return text.ToString();
    }
}
