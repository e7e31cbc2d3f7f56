#include "http/mime.h"

#include <gtest/gtest.h>

#include <string_view>

namespace nuri::http {
namespace {

constexpr std::string_view kBinary = "application/octet-stream";

struct MimeCase {
  std::string_view name;
  std::string_view type;
};

TEST(Mime, CommonTypes) {
  const MimeCase cases[] = {
      {"index.html", "text/html; charset=utf-8"},
      {"page.htm", "text/html; charset=utf-8"},
      {"style.css", "text/css; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"module.mjs", "text/javascript; charset=utf-8"},
      {"data.json", "application/json; charset=utf-8"},
      {"feed.xml", "application/xml; charset=utf-8"},
      {"notes.txt", "text/plain; charset=utf-8"},
      {"README.md", "text/markdown; charset=utf-8"},
      {"table.csv", "text/csv; charset=utf-8"},
      {"logo.svg", "image/svg+xml; charset=utf-8"},
      {"site.webmanifest", "application/manifest+json; charset=utf-8"},
      {"app.js.map", "application/json; charset=utf-8"},
      {"cal.ics", "text/calendar; charset=utf-8"},
      {"a.png", "image/png"},
      {"a.jpg", "image/jpeg"},
      {"a.jpeg", "image/jpeg"},
      {"a.gif", "image/gif"},
      {"a.webp", "image/webp"},
      {"a.avif", "image/avif"},
      {"favicon.ico", "image/x-icon"},
      {"a.bmp", "image/bmp"},
      {"a.tiff", "image/tiff"},
      {"a.woff", "font/woff"},
      {"a.woff2", "font/woff2"},
      {"a.ttf", "font/ttf"},
      {"a.otf", "font/otf"},
      {"a.eot", "application/vnd.ms-fontobject"},
      {"a.pdf", "application/pdf"},
      {"a.zip", "application/zip"},
      {"a.gz", "application/gzip"},
      {"a.tgz", "application/gzip"},
      {"a.bz2", "application/x-bzip2"},
      {"a.xz", "application/x-xz"},
      {"a.zst", "application/zstd"},
      {"a.tar", "application/x-tar"},
      {"a.7z", "application/x-7z-compressed"},
      {"a.wasm", "application/wasm"},
      {"a.mp3", "audio/mpeg"},
      {"a.ogg", "audio/ogg"},
      {"a.oga", "audio/ogg"},
      {"a.wav", "audio/wav"},
      {"a.flac", "audio/flac"},
      {"a.m4a", "audio/mp4"},
      {"a.aac", "audio/aac"},
      {"a.mp4", "video/mp4"},
      {"a.m4v", "video/mp4"},
      {"a.webm", "video/webm"},
      {"a.ogv", "video/ogg"},
      {"a.mov", "video/quicktime"},
      {"a.avi", "video/x-msvideo"},
      {"a.mkv", "video/x-matroska"},
      {"a.rtf", "application/rtf"},
      {"a.doc", "application/msword"},
      {"a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"a.xls", "application/vnd.ms-excel"},
      {"a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"a.ppt", "application/vnd.ms-powerpoint"},
      {"a.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
      {"a.epub", "application/epub+zip"},
      {"a.jar", "application/java-archive"},
      {"a.apk", "application/vnd.android.package-archive"},
      {"a.exe", "application/vnd.microsoft.portable-executable"},
      {"a.bin", "application/octet-stream"},
      {"a.iso", "application/x-iso9660-image"},
      {"a.dmg", "application/x-apple-diskimage"},
  };
  for (const MimeCase& c : cases) EXPECT_EQ(mime_type_for(c.name), c.type) << c.name;
}

TEST(Mime, TextTypesCarryCharset) {
  for (std::string_view name : {"a.html", "a.css", "a.js", "a.mjs", "a.json", "a.xml", "a.svg",
                                "a.txt", "a.webmanifest", "a.md", "a.csv"}) {
    EXPECT_TRUE(mime_type_for(name).ends_with("; charset=utf-8")) << name;
  }
  for (std::string_view name : {"a.png", "a.pdf", "a.woff2", "a.wasm", "a.zip", "a.mp4"}) {
    EXPECT_EQ(mime_type_for(name).find("charset"), std::string_view::npos) << name;
  }
}

TEST(Mime, ExtensionIsCaseInsensitive) {
  EXPECT_EQ(mime_type_for("INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type_for("Photo.JPG"), "image/jpeg");
  EXPECT_EQ(mime_type_for("photo.JpEg"), "image/jpeg");
  EXPECT_EQ(mime_type_for("FONT.WOFF2"), "font/woff2");
  EXPECT_EQ(mime_type_for("x.WebManifest"), "application/manifest+json; charset=utf-8");
  EXPECT_EQ(mime_type_for("A.7Z"), "application/x-7z-compressed");
}

TEST(Mime, NoOrUnknownExtension) {
  EXPECT_EQ(mime_type_for(""), kBinary);
  EXPECT_EQ(mime_type_for("README"), kBinary);
  EXPECT_EQ(mime_type_for("Makefile"), kBinary);
  EXPECT_EQ(mime_type_for("file."), kBinary);
  EXPECT_EQ(mime_type_for("."), kBinary);
  EXPECT_EQ(mime_type_for(".."), kBinary);
  EXPECT_EQ(mime_type_for("a.unknown"), kBinary);
  EXPECT_EQ(mime_type_for("a.htmlx"), kBinary);
  EXPECT_EQ(mime_type_for("a.htm "), kBinary);
  EXPECT_EQ(mime_type_for("a.averyveryverylongextensionname"), kBinary);
  EXPECT_EQ(mime_type_for("a.h\xc3\xa9"), kBinary);
  EXPECT_EQ(mime_type_for(std::string_view("a.html\0", 7)), kBinary);
}

TEST(Mime, Dotfiles) {
  EXPECT_EQ(mime_type_for(".html"), kBinary);  // a dotfile named ".html" has no extension
  EXPECT_EQ(mime_type_for(".bashrc"), kBinary);
  EXPECT_EQ(mime_type_for("/srv/.htaccess"), kBinary);
  EXPECT_EQ(mime_type_for("/srv/.config.json"), "application/json; charset=utf-8");
  EXPECT_EQ(mime_type_for(".tar.gz"), "application/gzip");
}

TEST(Mime, OnlyTheFinalSegmentCounts) {
  EXPECT_EQ(mime_type_for("/var/www/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type_for("/a.html/README"), kBinary);  // dot in a directory
  EXPECT_EQ(mime_type_for("/v1.2/app"), kBinary);
  EXPECT_EQ(mime_type_for("/v1.2/app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type_for("/a.b.c/d.e.png"), "image/png");
  EXPECT_EQ(mime_type_for("/dir.css/"), kBinary);
  EXPECT_EQ(mime_type_for("/dir/.css"), kBinary);
  EXPECT_EQ(mime_type_for("archive.tar.gz"), "application/gzip");
  EXPECT_EQ(mime_type_for("a.min.js"), "text/javascript; charset=utf-8");
}

}  // namespace
}  // namespace nuri::http
