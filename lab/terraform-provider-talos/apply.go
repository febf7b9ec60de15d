package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// applyTimeout is the real resource's default create and update timeout (10 minutes).
const applyTimeout = 10 * time.Minute

type clientConfiguration struct {
	CA   types.String `tfsdk:"ca_certificate"`
	Cert types.String `tfsdk:"client_certificate"`
	Key  types.String `tfsdk:"client_key"`
}

type configurationApplyModel struct {
	ID                        types.String         `tfsdk:"id"`
	Node                      types.String         `tfsdk:"node"`
	Endpoint                  types.String         `tfsdk:"endpoint"`
	ClientConfiguration       *clientConfiguration `tfsdk:"client_configuration"`
	MachineConfigurationInput types.String         `tfsdk:"machine_configuration_input"`
	ApplyMode                 types.String         `tfsdk:"apply_mode"`
	ResolvedApplyMode         types.String         `tfsdk:"resolved_apply_mode"`
	ConfigPatches             []types.String       `tfsdk:"config_patches"`
	MachineConfiguration      types.String         `tfsdk:"machine_configuration"`
}

type configurationApply struct{}

func newConfigurationApply() resource.Resource { return &configurationApply{} }

func (r *configurationApply) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_machine_configuration_apply"
}

// Schema follows the real resource's (R:96-237 at v0.11.0). No attribute forces a replacement there:
// a changed input is applied in place, and a new VM is configured only when this resource is created
// again (destroyed with its VM, or replaced through replace_triggered_by).
func (r *configurationApply) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{
		"id":       schema.StringAttribute{Computed: true, PlanModifiers: keep},
		"node":     schema.StringAttribute{Required: true},
		"endpoint": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: keep},
		"client_configuration": schema.SingleNestedAttribute{Required: true, Attributes: map[string]schema.Attribute{
			"ca_certificate":     schema.StringAttribute{Required: true},
			"client_certificate": schema.StringAttribute{Required: true},
			"client_key":         schema.StringAttribute{Required: true, Sensitive: true},
		}},
		"machine_configuration_input": schema.StringAttribute{Required: true, Sensitive: true},
		"apply_mode": schema.StringAttribute{
			Optional: true, Computed: true, Default: stringdefault.StaticString("auto"),
		},
		"resolved_apply_mode":   schema.StringAttribute{Computed: true},
		"config_patches":        schema.ListAttribute{Optional: true, ElementType: types.StringType},
		"machine_configuration": schema.StringAttribute{Computed: true, Sensitive: true},
	}}
}

func (r *configurationApply) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	applyPlanned(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

// applyPlanned sends the planned config and records it: Create and Update do the same (R:473-745).
func applyPlanned(ctx context.Context, planned tfsdk.Plan, state *tfsdk.State, diags *diag.Diagnostics) {
	var plan configurationApplyModel
	if diags.Append(planned.Get(ctx, &plan)...); diags.HasError() {
		return
	}
	if err := apply(ctx, &plan); err != nil {
		diags.AddError("Error applying configuration", err.Error())
		return
	}
	plan.ID = types.StringValue("machine_configuration_apply")
	diags.Append(state.Set(ctx, &plan)...)
}

// Read does nothing, as the real resource's (R:609): no drift is detected.
func (r *configurationApply) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

// Update applies again, as Create does (R:612-745).
func (r *configurationApply) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	applyPlanned(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

// Delete does nothing unless on_destroy.reset is set (R:756-877), which the lab's stand-in does not serve.
func (r *configurationApply) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}

func (r *configurationApply) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// apply renders the config (input plus patches) and sends it to the node, retrying every error but
// InvalidArgument until the timeout (R:571-590), then records what it sent.
func apply(ctx context.Context, m *configurationApplyModel) error {
	mode, ok := machineapi.ApplyConfigurationRequest_Mode_value[strings.ToUpper(m.ApplyMode.ValueString())]
	if !ok || strings.EqualFold(m.ApplyMode.ValueString(), "try") {
		return fmt.Errorf("apply_mode %q is not one of auto, reboot, no_reboot, staged", m.ApplyMode.ValueString())
	}
	rendered, err := render(m)
	if err != nil {
		return err
	}
	if m.Endpoint.IsNull() || m.Endpoint.IsUnknown() {
		m.Endpoint = m.Node
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	wait := 500 * time.Millisecond
	var applied machineapi.ApplyConfigurationRequest_Mode
	for {
		applied, err = applyOnce(ctx, m, rendered, machineapi.ApplyConfigurationRequest_Mode(mode))
		if err == nil || status.Code(err) == codes.InvalidArgument {
			break
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-timer.C:
		}
		wait = min(wait*2, 10*time.Second)
	}
	if err != nil {
		return err
	}
	// The mode the node took (auto resolves to reboot or no_reboot there).
	m.ResolvedApplyMode = types.StringValue(strings.ToLower(applied.String()))
	m.MachineConfiguration = types.StringValue(string(rendered))
	return nil
}

func render(m *configurationApplyModel) ([]byte, error) {
	input := []byte(m.MachineConfigurationInput.ValueString())
	if len(m.ConfigPatches) == 0 {
		return input, nil
	}
	texts := make([]string, 0, len(m.ConfigPatches))
	for _, p := range m.ConfigPatches {
		texts = append(texts, p.ValueString())
	}
	patches, err := configpatcher.LoadPatches(texts)
	if err != nil {
		return nil, fmt.Errorf("config_patches: %w", err)
	}
	out, err := configpatcher.Apply(configpatcher.WithBytes(input), patches)
	if err != nil {
		return nil, fmt.Errorf("config_patches: %w", err)
	}
	return out.Bytes()
}

// applyOnce connects as the real provider's talosClientOp (util.go:515-537): first without client
// certificates, probing Disks, which only a node in maintenance mode answers; otherwise with the
// client configuration's certificates. Either way the config goes to whatever answers at the endpoint.
func applyOnce(ctx context.Context, m *configurationApplyModel, config []byte, mode machineapi.ApplyConfigurationRequest_Mode) (machineapi.ApplyConfigurationRequest_Mode, error) {
	endpoint := m.Endpoint.ValueString()
	insecure, err := client.New(ctx, client.WithEndpoints(endpoint),
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // as the real provider
	if err != nil {
		return mode, err
	}
	defer insecure.Close() //nolint:errcheck
	c := insecure
	if _, probe := insecure.Disks(ctx); probe != nil {
		// client_configuration is required by the schema: a configured node is reached with it.
		secure, err := client.New(ctx, client.WithConfigContext(&clientconfig.Context{
			Endpoints: []string{endpoint},
			CA:        m.ClientConfiguration.CA.ValueString(),
			Crt:       m.ClientConfiguration.Cert.ValueString(),
			Key:       m.ClientConfiguration.Key.ValueString(),
		}))
		if err != nil {
			return mode, err
		}
		defer secure.Close() //nolint:errcheck
		c = secure
		ctx = client.WithNode(ctx, m.Node.ValueString())
	}
	resp, err := c.ApplyConfiguration(ctx, &machineapi.ApplyConfigurationRequest{Data: config, Mode: mode})
	if err != nil {
		return mode, err
	}
	if msgs := resp.GetMessages(); len(msgs) > 0 {
		return msgs[0].GetMode(), nil
	}
	return mode, nil
}
