#!/usr/bin/env ruby
# frozen_string_literal: true

# Test oracle for lsenv's Rails-credentials support.
#
# It drives the REAL ActiveSupport (Debian's ruby-activesupport, 6.1) so the
# Rust tests compare against what Rails actually does, never against a mock.
# Run from anywhere; paths are taken as given.
#
#   ruby tests/drivers/rails_oracle.rb read   ENC KEY
#       Print the decrypted content byte for byte (no newline added).
#   ruby tests/drivers/rails_oracle.rb write  ENC KEY [--framing F] [--raw]
#       Encrypt stdin into ENC. F is binary (default), utf8, usascii or latin1.
#       KEY is created with a fresh key if it does not exist.
#       --raw uses EncryptedFile#write (no YAML check) instead of
#       EncryptedConfiguration#write (which YAML-loads the content first).
#   ruby tests/drivers/rails_oracle.rb config ENC KEY DOTTED.KEY [--inspect]
#       Print config.dig(*keys).to_s (or .inspect) as Rails parses the YAML.
#       Array elements are addressed by number (e.g. hosts.0).
#   ruby tests/drivers/rails_oracle.rb section ENC KEY NAME
#       Print, as JSON, the mapping NAME of the credentials as Rails >= 7.0.2 reads
#       them: YAML.unsafe_load (aliases, merge keys, symbols, tags), then
#       deep_symbolize_keys. Installed ActiveSupport 6.1 reads with safe_load,
#       so this calls Psych itself. Each key maps to its value's to_s, or to
#       {"class": NAME} when it is nil, a Hash or an Array.
#   ruby tests/drivers/rails_oracle.rb dump-framing ENC KEY
#       Describe the Marshal framing of the decrypted payload (hex header,
#       length, width of the length prefix, trailer, encoding).
#
# The key is found exactly as Rails finds it: ENV["RAILS_MASTER_KEY"] wins over
# the key file, and the key file is read with #strip. Tests must therefore
# clear RAILS_MASTER_KEY unless they mean to test it.
#
# Exit status: 0 ok, 1 failure (message on stderr, starting with the Ruby
# exception class), 2 usage error, 3 `config` key not present.
#
# The file can also be required as a library (fixtures/make-rails-fixtures.rb
# does), in which case nothing runs.

require "active_support"                           # SecureRandom, autoloads
require "active_support/core_ext/hash/keys"        # config uses deep_symbolize_keys
require "active_support/encrypted_configuration"
require "json"
require "psych"

module RailsOracle
  ENV_KEY = "RAILS_MASTER_KEY"

  # Framing name => encoding given to the String before Marshal.dump.
  #   binary : what `rails credentials:edit` writes (it re-reads the tmp file
  #            with binread)      => 04 08 22 LEN ...
  #   utf8   : what `credentials.write("...")` writes from Ruby source
  #                               => 04 08 49 22 LEN ... 06 3a 06 45 54 (:E true)
  #   usascii:                    => ... 06 3a 06 45 46 (:E false)
  #   latin1 : any other encoding => ... :encoding "ISO-8859-1" (lsenv refuses)
  FRAMINGS = {
    "binary" => Encoding::ASCII_8BIT,
    "utf8" => Encoding::UTF_8,
    "usascii" => Encoding::US_ASCII,
    "latin1" => Encoding::ISO_8859_1,
  }.freeze

  # Identity serializer: lets the real MessageEncryptor hand us the raw
  # Marshal bytes instead of loading them.
  module RawSerializer
    def self.load(bytes)
      bytes
    end

    def self.dump(bytes)
      bytes
    end
  end

  class Failure < StandardError; end

  module_function

  def config_for(enc_path, key_path, raw: false)
    opts = { key_path: key_path, env_key: ENV_KEY, raise_if_missing_key: true }
    if raw
      ActiveSupport::EncryptedFile.new(content_path: enc_path, **opts)
    else
      ActiveSupport::EncryptedConfiguration.new(config_path: enc_path, **opts)
    end
  end

  # EncryptedConfiguration#read returns "" for a missing file (Rails lets an
  # app boot without credentials); for a test oracle that hides mistakes.
  def require_file!(enc_path)
    raise Failure, "no such file: #{enc_path}" unless File.exist?(enc_path)
  end

  def read(enc_path, key_path)
    require_file!(enc_path)
    config_for(enc_path, key_path).read
  end

  def write(enc_path, key_path, content, framing: "binary", raw: false)
    encoding = FRAMINGS.fetch(framing) { raise Failure, "unknown framing: #{framing}" }
    # Like `rails credentials:edit`: 32 hex chars, no trailing newline.
    File.write(key_path, ActiveSupport::EncryptedFile.generate_key) unless File.exist?(key_path)
    warn "rails_oracle: note: #{ENV_KEY} is set and overrides #{key_path}" if ENV[ENV_KEY]
    config_for(enc_path, key_path, raw: raw).write(content.dup.force_encoding(encoding))
  end

  def config_value(enc_path, key_path, dotted)
    require_file!(enc_path)
    dotted.split(".").reduce(config_for(enc_path, key_path).config) do |node, part|
      case node
      when Hash
        key = part.to_sym # Rails deep-symbolizes the keys
        raise KeyError, "no such key: #{dotted}" unless node.key?(key)
        node[key]
      when Array
        raise KeyError, "no such key: #{dotted}" unless part.match?(/\A\d+\z/) && part.to_i < node.size
        node[part.to_i]
      else
        raise KeyError, "no such key: #{dotted}"
      end
    end
  end

  # What Rails >= 7.0.2 makes of the credentials (EncryptedConfiguration#config).
  def modern_config(enc_path, key_path)
    require_file!(enc_path)
    config = Psych.unsafe_load(read(enc_path, key_path), filename: enc_path)
    config = {} if config.nil? || config == false || config == ""
    raise Failure, "the credentials are a #{config.class}, not a Hash" unless config.is_a?(Hash)

    config.deep_symbolize_keys
  end

  def section(enc_path, key_path, name)
    found = modern_config(enc_path, key_path)[name.to_sym]
    raise KeyError, "no such section: #{name}" unless found.is_a?(Hash)

    found.to_h do |key, value|
      shown = [NilClass, Hash, Array].include?(value.class) ? { "class" => value.class.name } : value.to_s
      [key.to_s, shown]
    end
  end

  # Decrypts with the real MessageEncryptor (same key lookup as Rails) and
  # returns the Marshal bytes.
  def raw_payload(enc_path, key_path)
    require_file!(enc_path)
    file = config_for(enc_path, key_path, raw: true)
    encryptor = ActiveSupport::MessageEncryptor.new(
      [file.key].pack("H*"), cipher: ActiveSupport::EncryptedFile::CIPHER, serializer: RawSerializer
    )
    encryptor.decrypt_and_verify(File.binread(enc_path))
  end

  # Marshal's variable-length int (only the non-negative forms a String
  # length can take). Returns [value, bytes used].
  def marshal_int(bytes, at)
    c = bytes.fetch(at)
    return [0, 1] if c.zero?
    return [c - 5, 1] if c.between?(6, 127)
    raise Failure, format("unexpected length byte %02x", c) unless c.between?(1, 4)

    value = bytes[at + 1, c].each_with_index.sum { |b, i| b << (8 * i) }
    [value, 1 + c]
  end

  # Splits the payload of a Marshal'ed String into header / body / trailer.
  def framing(payload)
    bytes = payload.bytes
    raise Failure, "not Marshal 4.8" unless bytes[0, 2] == [4, 8]

    pos = 2
    ivars = bytes[pos] == 0x49 # 'I': the String carries instance variables (encoding)
    pos += 1 if ivars
    raise Failure, format("not a String (type byte %02x)", bytes[pos]) unless bytes[pos] == 0x22

    length, width = marshal_int(bytes, pos + 1)
    body_start = pos + 1 + width
    {
      header: bytes[0, body_start],
      length: length,
      width: width,
      trailer: bytes[(body_start + length)..] || [],
      encoding: Marshal.load(payload).encoding.to_s,
    }
  end

  def hex(bytes)
    bytes.map { |b| format("%02x", b) }.join(" ")
  end

  USAGE = <<~TEXT
    usage: rails_oracle.rb read ENC KEY
           rails_oracle.rb write ENC KEY [--framing binary|utf8|usascii|latin1] [--raw]  < content
           rails_oracle.rb config ENC KEY DOTTED.KEY [--inspect]
           rails_oracle.rb section ENC KEY NAME
           rails_oracle.rb dump-framing ENC KEY
  TEXT

  def main(argv)
    args = argv.dup
    opts = {}
    while (i = args.index { |a| a.start_with?("--") })
      flag = args.delete_at(i)
      opts[flag] = flag == "--framing" ? (args.delete_at(i) || usage!) : true
    end
    cmd, enc, key, *rest = args
    allowed = { "write" => %w[--framing --raw], "config" => %w[--inspect] }.fetch(cmd, [])
    usage! unless enc && key && (opts.keys - allowed).empty?

    case cmd
    when "read"
      usage! unless rest.empty?
      $stdout.binmode.write(read(enc, key))
    when "write"
      usage! unless rest.empty?
      write(enc, key, $stdin.binmode.read, framing: opts.fetch("--framing", "binary"), raw: opts.key?("--raw"))
    when "config"
      usage! unless rest.size == 1
      value = config_value(enc, key, rest.first)
      $stdout.binmode.write(opts.key?("--inspect") ? value.inspect : value.to_s)
    when "section"
      usage! unless rest.size == 1
      $stdout.write(JSON.generate(section(enc, key, rest.first)))
    when "dump-framing"
      usage! unless rest.empty?
      f = framing(raw_payload(enc, key))
      puts "header: #{hex(f[:header])}", "length: #{f[:length]}", "width: #{f[:width]}",
           "trailer: #{hex(f[:trailer])}", "encoding: #{f[:encoding]}"
    else
      usage!
    end
  rescue KeyError => e
    warn "rails_oracle: KeyError: #{e.message}"
    exit 3
  rescue StandardError => e
    warn "rails_oracle: #{e.class}: #{e.message}"
    exit 1
  end

  def usage!
    warn USAGE
    exit 2
  end
end

RailsOracle.main(ARGV) if $PROGRAM_NAME == __FILE__
