package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type diskModel struct {
	DatastoreID types.String `tfsdk:"datastore_id"`
	FileID      types.String `tfsdk:"file_id"`
	Interface   types.String `tfsdk:"interface"`
	Size        types.Int64  `tfsdk:"size"`
}

type networkDeviceModel struct {
	Bridge types.String `tfsdk:"bridge"`
	VlanID types.Int64  `tfsdk:"vlan_id"`
}

type ipv4Model struct {
	Address types.String `tfsdk:"address"`
	Gateway types.String `tfsdk:"gateway"`
}

type ipConfigModel struct {
	IPv4 []ipv4Model `tfsdk:"ipv4"`
}

type initializationModel struct {
	IPConfig []ipConfigModel `tfsdk:"ip_config"`
}

type cpuModel struct {
	Cores types.Int64 `tfsdk:"cores"`
}

type memoryModel struct {
	Dedicated types.Int64 `tfsdk:"dedicated"`
}

type vmModel struct {
	ID                    types.String          `tfsdk:"id"`
	Name                  types.String          `tfsdk:"name"`
	NodeName              types.String          `tfsdk:"node_name"`
	VMID                  types.Int64           `tfsdk:"vm_id"`
	Description           types.String          `tfsdk:"description"`
	Tags                  types.List            `tfsdk:"tags"`
	Started               types.Bool            `tfsdk:"started"`
	OnBoot                types.Bool            `tfsdk:"on_boot"`
	StopOnDestroy         types.Bool            `tfsdk:"stop_on_destroy"`
	Template              types.Bool            `tfsdk:"template"`
	CPU                   []cpuModel            `tfsdk:"cpu"`
	Memory                []memoryModel         `tfsdk:"memory"`
	Disk                  []diskModel           `tfsdk:"disk"`
	NetworkDevice         []networkDeviceModel  `tfsdk:"network_device"`
	Initialization        []initializationModel `tfsdk:"initialization"`
	IPv4Addresses         types.List            `tfsdk:"ipv4_addresses"`
	NetworkInterfaceNames types.List            `tfsdk:"network_interface_names"`
}

type vm struct{ client *labClient }

func newVM() resource.Resource { return &vm{} }

func (r *vm) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_virtual_environment_vm"
}

func (r *vm) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if client, ok := req.ProviderData.(*labClient); ok {
		r.client = client
	}
}

// Schema: the attributes of v0.111.1's VM resource that the lab's repositories use, with its rules for
// what replaces the VM: node_name (vm.go:1243-1248, 1781-1790), vm_id (1664-1672, 1767-1780) and a
// disk's file_id (disk/schema.go:136-143) force a new VM; the rest changes in place. started and
// on_boot default to true, stop_on_destroy to false (vm.go:1471-1475, 359-364, 1686-1691). template
// (false by default) forces a new VM too: the real one converts the VM it made into a template, and a
// template is never started (vm.go, mkTemplate: Optional, ForceNew, Default dvTemplate).
func (r *vm) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	// Unknown in a plan that changes the VM, as the real ones turn unknown when its network may change
	// (network/schema.go:176-196): Update computes them again from initialization.
	computedList := func() schema.ListAttribute { return schema.ListAttribute{Computed: true} }
	ipv4Addresses := computedList()
	ipv4Addresses.ElementType = types.ListType{ElemType: types.StringType}
	interfaceNames := computedList()
	interfaceNames.ElementType = types.StringType
	resp.Schema = schema.Schema{
		Attributes: map[string]schema.Attribute{
			"id":        schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name":      schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("")},
			"node_name": schema.StringAttribute{Required: true, PlanModifiers: replace},
			"vm_id": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: []planmodifier.Int64{
				int64planmodifier.UseStateForUnknown(), int64planmodifier.RequiresReplaceIfConfigured(),
			}},
			"description":     schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("")},
			"tags":            schema.ListAttribute{Optional: true, ElementType: types.StringType},
			"started":         schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true)},
			"on_boot":         schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true)},
			"stop_on_destroy": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false)},
			"template": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()}},
			"ipv4_addresses":          ipv4Addresses,
			"network_interface_names": interfaceNames,
		},
		Blocks: map[string]schema.Block{
			"cpu": schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
				"cores": schema.Int64Attribute{Optional: true},
			}}},
			"memory": schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
				"dedicated": schema.Int64Attribute{Optional: true},
			}}},
			"disk": schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
				"datastore_id": schema.StringAttribute{Optional: true},
				"file_id":      schema.StringAttribute{Optional: true, PlanModifiers: replace},
				"interface":    schema.StringAttribute{Required: true},
				"size":         schema.Int64Attribute{Optional: true},
			}}},
			"network_device": schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
				"bridge":  schema.StringAttribute{Optional: true},
				"vlan_id": schema.Int64Attribute{Optional: true},
			}}},
			"initialization": schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Blocks: map[string]schema.Block{
				"ip_config": schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Blocks: map[string]schema.Block{
					"ipv4": schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
						"address": schema.StringAttribute{Optional: true},
						"gateway": schema.StringAttribute{Optional: true},
					}}},
				}}},
			}}},
		},
	}
}

// versionInImage is the Talos release a disk image boots, from its file name: users name downloaded
// images by version (talos-v1.11.3-nocloud-amd64.img), and the lab boots what the image holds.
var versionInImage = regexp.MustCompile(`v?(\d+\.\d+\.\d+)`)

func (m *vmModel) bootVersion() (string, error) {
	for _, disk := range m.Disk {
		if found := versionInImage.FindStringSubmatch(disk.FileID.ValueString()); found != nil {
			return found[1], nil
		}
	}
	return "", fmt.Errorf("VM %s: no disk's file_id names a Talos image with its version (e.g. local:iso/talos-v1.11.3-nocloud-amd64.img)", m.Name.ValueString())
}

// addresses: the lab's VMs answer on their static address (initialization's ipv4), the way the
// guest agent reports it: loopback first, then the NIC.
func (m *vmModel) addresses() (types.List, types.List) {
	if m.Template.ValueBool() {
		// A template never runs, so no guest agent reports anything.
		return types.ListValueMust(types.ListType{ElemType: types.StringType}, []attr.Value{}),
			types.ListValueMust(types.StringType, []attr.Value{})
	}
	ip := ""
	if len(m.Initialization) > 0 && len(m.Initialization[0].IPConfig) > 0 && len(m.Initialization[0].IPConfig[0].IPv4) > 0 {
		ip = strings.SplitN(m.Initialization[0].IPConfig[0].IPv4[0].Address.ValueString(), "/", 2)[0]
	}
	inner := func(values ...string) attr.Value {
		elems := make([]attr.Value, len(values))
		for i, v := range values {
			elems[i] = types.StringValue(v)
		}
		list, _ := types.ListValue(types.StringType, elems)
		return list
	}
	perNic, _ := types.ListValue(types.ListType{ElemType: types.StringType}, []attr.Value{inner("127.0.0.1"), inner(ip)})
	names, _ := types.ListValue(types.StringType, []attr.Value{types.StringValue("lo"), types.StringValue("ens18")})
	return perNic, names
}

func (r *vm) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan vmModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := plan.Name.ValueString()
	if name == "" {
		resp.Diagnostics.AddError("lab VM without a name", "the lab knows its VMs by name: set name to the node's")
		return
	}
	version, err := plan.bootVersion()
	if err != nil {
		resp.Diagnostics.AddError("cannot tell the VM's Talos version", err.Error())
		return
	}
	// The lab's first apply records the VMs it already runs, as `terraform import` would.
	adopt := os.Getenv("TALOS_LAB_ADOPT") == "1"
	route, body := "/vm/create", map[string]string{"node": name, "version": version}
	switch {
	case plan.Template.ValueBool() && adopt:
		route, body = "/template/adopt", map[string]string{"template": name}
	case plan.Template.ValueBool():
		// A template is a VM made from the image and converted, never booted: the lab's template build.
		route, body = "/template/build", map[string]string{"template": name, "version": version}
	case adopt:
		route = "/vm/adopt"
	}
	// The disk is imported from the datastore's file on the VM's host: the lab boots what that file holds.
	for _, disk := range plan.Disk {
		if file := disk.FileID.ValueString(); file != "" && !plan.Template.ValueBool() {
			body["file"] = file
			body["host"] = plan.NodeName.ValueString()
			break
		}
	}
	if err := r.client.post(route, body); err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("error creating VM %s", name), err.Error())
		return
	}
	if plan.VMID.IsUnknown() {
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		plan.VMID = types.Int64Value(int64(100 + h.Sum32()%900))
	}
	plan.ID = types.StringValue(strconv.FormatInt(plan.VMID.ValueInt64(), 10))
	plan.IPv4Addresses, plan.NetworkInterfaceNames = plan.addresses()
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *vm) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state vmModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update: what changes in place (size, tags, description, …) changes nothing the lab plays.
func (r *vm) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state vmModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ID = state.ID
	plan.IPv4Addresses, plan.NetworkInterfaceNames = plan.addresses()
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete stops the VM and deletes it with its disks, as vmDelete does (vm.go:7419-7495).
func (r *vm) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state vmModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	route, body := "/vm/destroy", map[string]string{"node": state.Name.ValueString()}
	if state.Template.ValueBool() {
		route, body = "/template/destroy", map[string]string{"template": state.Name.ValueString()}
	}
	if err := r.client.post(route, body); err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("error deleting VM %s", state.Name.ValueString()), err.Error())
	}
}
