// Command pulumi-language-nodejs is this project's own minimal Node.js language host for the
// Pulumi CLI. The upstream host is a Go module that the Go module proxy reachable here does not
// serve, so the project implements the part of the LanguageRuntime protocol that `pulumi up`,
// `preview`, `destroy` and the Automation API use: it runs the program with the @pulumi/pulumi
// SDK's own `cmd/run` entry point. Everything else answers Unimplemented, which the CLI handles.
//
// Usage, as the CLI starts it: pulumi-language-nodejs [-flag[=value]]... <engine address>
// It prints the port it serves on, then serves until the CLI closes its stdin or kills it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is set at build time with -ldflags "-X main.version=v3.x.y".
var version = "v0.0.0-dev"

// exitCodeAfterLoggedError is what the SDK's cmd/run exits with when it has already reported the
// program's error to the engine, so the host must not report it again.
const exitCodeAfterLoggedError = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	// options holds the runtime options the CLI passes as flags (from Pulumi.yaml's runtime.options).
	options map[string]string
}

// parseArgs accepts any -name[=value] flags, because the CLI forwards the project's runtime options
// as flags, and takes the last positional argument as the engine's address.
func parseArgs(args []string) (engineAddress string, options map[string]string) {
	options = map[string]string{}
	for _, arg := range args {
		if strings.HasPrefix(arg, "-") {
			name, value, found := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if !found {
				value = "true"
			}
			options[name] = value
			continue
		}
		engineAddress = arg
	}
	return engineAddress, options
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: strings.TrimPrefix(version, "v")}, nil
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

// The project's resources come from dynamic providers, which the CLI bundles, so a program needs
// no plugin that would have to be found or downloaded.
func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("node is not on PATH: %w", err)
	}
	node, _ := exec.LookPath("node")
	return &pulumirpc.AboutResponse{Executable: node, Version: strings.TrimSpace(string(out))}, nil
}

// option reads a runtime option, from the program info the CLI sends or else from the flags.
func (h *host) option(info *pulumirpc.ProgramInfo, name string) (string, bool) {
	if info != nil && info.GetOptions() != nil {
		if value, ok := info.GetOptions().GetFields()[name]; ok {
			switch kind := value.GetKind().(type) {
			case *structpb.Value_BoolValue:
				return strconv.FormatBool(kind.BoolValue), true
			case *structpb.Value_StringValue:
				return kind.StringValue, true
			case *structpb.Value_NumberValue:
				return strconv.FormatFloat(kind.NumberValue, 'f', -1, 64), true
			}
		}
	}
	value, ok := h.options[name]
	return value, ok
}

// runEntryPoint finds the SDK's cmd/run the way Node would from the program's folder, so the
// program always runs with the @pulumi/pulumi it depends on.
func runEntryPoint(programDir string) (string, error) {
	cmd := exec.Command("node", "-e", "process.stdout.write(require.resolve('@pulumi/pulumi/cmd/run'))")
	cmd.Dir = programDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cannot find @pulumi/pulumi from %s (run npm ci there): %w", programDir, err)
	}
	return string(out), nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	programDir := req.GetPwd()
	entryPoint := req.GetProgram()
	if info := req.GetInfo(); info != nil {
		programDir = info.GetProgramDirectory()
		entryPoint = info.GetEntryPoint()
	}
	if entryPoint == "" {
		entryPoint = "."
	}
	runPath, err := runEntryPoint(programDir)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	args := []string{runPath, "--monitor", req.GetMonitorAddress(), "--engine", h.engineAddress,
		"--project", req.GetProject(), "--stack", req.GetStack(), "--pwd", programDir,
		"--parallel", strconv.Itoa(int(req.GetParallel()))}
	if org := req.GetOrganization(); org != "" {
		args = append(args, "--organization", org)
	}
	if info := req.GetInfo(); info != nil && info.GetRootDirectory() != "" {
		args = append(args, "--root-directory", info.GetRootDirectory())
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	args = append(args, entryPoint)
	args = append(args, req.GetArgs()...)

	// The SDK parses these as an object and an array: an empty stack config must be {} and [], not null.
	configMap := map[string]string{}
	for key, value := range req.GetConfig() {
		configMap[key] = value
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(append([]string{}, req.GetConfigSecretKeys()...))
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	typescript, set := h.option(req.GetInfo(), "typescript")
	if !set {
		typescript = "true"
	}
	env = append(env, "PULUMI_NODEJS_TYPESCRIPT="+typescript)
	if tsconfig, ok := h.option(req.GetInfo(), "tsconfig"); ok {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}

	nodeArgs := []string{}
	if extra, ok := h.option(req.GetInfo(), "nodeargs"); ok && extra != "" {
		nodeArgs = strings.Fields(extra)
	}
	cmd := exec.CommandContext(ctx, "node", append(nodeArgs, args...)...)
	cmd.Dir = programDir
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == exitCodeAfterLoggedError {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run node: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(version)
		return
	}
	engineAddress, options := parseArgs(os.Args[1:])
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: cannot listen: %v\n", err)
		os.Exit(1)
	}
	server := grpc.NewServer(grpc.MaxRecvMsgSize(400 * 1024 * 1024))
	pulumirpc.RegisterLanguageRuntimeServer(server, &host{engineAddress: engineAddress, options: options})
	fmt.Println(listener.Addr().(*net.TCPAddr).Port)
	if err := server.Serve(listener); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}
