/// The appliance's version, as `/xrpc/_health`, the banner and outbound `User-Agent` report it.
public enum PDSVersion {
    public static let string = "0.1.0"
}
