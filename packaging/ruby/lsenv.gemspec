# The lsenv gem for one platform: the lsenv binary in libexec/ and exe/lsenv, which runs it.
# scripts/build-gem.sh builds it: it stages this directory with the release binary and names the
# platform and Cargo's metadata (the one source of the version) in LSENV_GEM_PLATFORM and
# LSENV_CARGO_METADATA.
require "json"

metadata_file = ENV.fetch("LSENV_CARGO_METADATA") { abort "lsenv.gemspec: build the gem with scripts/build-gem.sh" }
cargo = JSON.parse(File.read(metadata_file))["packages"].find { |package| package["name"] == "lsenv" }

Gem::Specification.new do |spec|
  spec.name = "lsenv"
  spec.version = cargo.fetch("version")
  spec.platform = Gem::Platform.new(ENV.fetch("LSENV_GEM_PLATFORM"))
  spec.summary = cargo.fetch("description")
  spec.description = "#{cargo.fetch('description')}. The gem carries lsenv's static binary for this platform."
  spec.licenses = cargo.fetch("license").split(" OR ") # "MIT OR Apache-2.0": one SPDX id each
  spec.authors = cargo["authors"].empty? ? ["lsenv developers"] : cargo["authors"]
  spec.homepage = cargo["homepage"] || cargo["repository"] if cargo["homepage"] || cargo["repository"]
  spec.required_ruby_version = ">= 2.6"
  spec.files = ["exe/lsenv", "libexec/lsenv"]
  spec.bindir = "exe"
  spec.executables = ["lsenv"]
  # The litestream gem ships the official litestream binary per platform; exe/lsenv hands its
  # path to lsenv, which runs it unless `[replicate] litestream` names another.
  spec.add_dependency "litestream", ">= 0.13", "< 1"
end
