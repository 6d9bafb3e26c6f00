/** Build-time constants. The release version is the package version. */
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
