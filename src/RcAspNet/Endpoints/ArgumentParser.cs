namespace RcAspNet.Endpoints;

/// <summary>Parses one request value as a parameter's binder would; false when the binder would refuse it.</summary>
internal delegate bool ArgumentParser(string text, out object? value);
